"""Landing the QuickSight files is all a user does: sensors, the barrier and runs do the rest.

The daemon's logic is driven through the instance APIs it uses itself (sensor ticks with their
cursors, automation evaluations with theirs, runs executed on the same instance), with real Spark.
"""

import dagster as dg
import pytest

from etl_platform import cli
from etl_platform.datasets import REGISTRY
from etl_platform.definitions import build_definitions
from etl_platform.environment import resources_for_environment
from etl_platform_tests.helpers import QUICKSIGHT_MARKETING, QUICKSIGHT_SALES

pytestmark = pytest.mark.e2e


class Daemon:
    def __init__(self, defs: dg.Definitions, instance: dg.DagsterInstance):
        self.defs, self.instance = defs, instance
        self.sensor_cursors: dict[str, str | None] = {}
        self.automation_cursor = None
        self.job = defs.resolve_implicit_global_asset_job_def()

    def launch(self, request: dg.RunRequest) -> dg.ExecuteInProcessResult:
        result = self.job.execute_in_process(
            run_config=request.run_config,
            asset_selection=request.asset_selection,
            instance=self.instance,
            tags=request.tags,
        )
        assert result.success
        return result

    def arrival_ticks(self) -> list[dg.RunRequest]:
        requests = []
        for dataset in REGISTRY.inputs:
            sensor = self.defs.resolve_sensor_def(f"{dataset.name}_arrival_sensor")
            context = dg.build_sensor_context(
                instance=self.instance, cursor=self.sensor_cursors.get(sensor.name), resources={"lake": self.lake}
            )
            result = sensor(context)
            if isinstance(result, dg.SensorResult):
                self.sensor_cursors[sensor.name] = result.cursor
                requests += result.run_requests
        return requests

    def automation_tick(self) -> list[dg.RunRequest]:
        """What the automation sensor would launch: one run for the requested assets."""
        result = dg.evaluate_automation_conditions(
            defs=self.defs, instance=self.instance, cursor=self.automation_cursor
        )
        self.automation_cursor = result.cursor
        keys = [key for key in self.defs.resolve_asset_graph().get_all_asset_keys() if result.get_num_requested(key)]
        return [dg.RunRequest(asset_selection=sorted(keys))] if keys else []

    @property
    def lake(self):
        return self.defs.resources["lake"]


def test_landed_files_become_the_joined_table_with_no_manual_step(quicksight_dir, lake_root, capsys) -> None:
    defs = build_definitions(REGISTRY, resources_for_environment())
    with dg.instance_for_test() as instance:
        daemon = Daemon(defs, instance)
        assert daemon.automation_tick() == []  # the daemon was already running before files landed
        assert daemon.arrival_ticks() == []

        assert cli.main(["land", "sales", str(quicksight_dir / QUICKSIGHT_SALES)]) == 0
        (sales_request,) = daemon.arrival_ticks()
        assert sales_request.tags["etl_platform/dataset"] == "sales"
        daemon.launch(sales_request)
        assert daemon.automation_tick() == []  # sales processed, marketing missing: the barrier holds

        assert cli.main(["land", "marketing", str(quicksight_dir / QUICKSIGHT_MARKETING)]) == 0
        (marketing_request,) = daemon.arrival_ticks()
        assert marketing_request.tags["etl_platform/dataset"] == "marketing"
        daemon.launch(marketing_request)
        (join_request,) = daemon.automation_tick()  # the join, and in the same run the report that follows it
        assert join_request.asset_selection == [
            dg.AssetKey("engagement_revenue_correlation"),
            dg.AssetKey(REGISTRY.joined.name),
        ]
        daemon.launch(join_request)
        assert daemon.automation_tick() == [] and daemon.arrival_ticks() == []

    capsys.readouterr()
    assert cli.main(["query", "select count(*) from sales_marketing_daily", "--format", "csv"]) == 0
    assert capsys.readouterr().out.splitlines()[1:] == ["1458"]
