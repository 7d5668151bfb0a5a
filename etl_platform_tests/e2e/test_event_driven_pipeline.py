"""Landing files is all a user does: sensors, the barrier and runs do the rest, whatever engine
computes each input.

The daemon's logic is driven through the instance APIs it uses itself (sensor ticks with their
cursors, automation evaluations with theirs, runs executed on the same instance), with real Spark
and real DuckDB, on the three-engine registry: sales on Spark, marketing on the EMR Serverless
engine (local Spark here), ad spend on the SQL engine (DuckDB here).
"""

import csv
from datetime import datetime
from pathlib import Path

import dagster as dg
import pytest

from etl_platform import cli
from etl_platform.datasets import THREE_ENGINES, Registry
from etl_platform.definitions import build_definitions
from etl_platform.environment import resources_for_environment
from etl_platform.project import SAMPLES_DIR
from etl_platform.samples import AD_SPEND_SAMPLE
from etl_platform_tests.helpers import QUICKSIGHT_MARKETING, QUICKSIGHT_SALES

pytestmark = pytest.mark.e2e


class Daemon:
    def __init__(self, registry: Registry, defs: dg.Definitions, instance: dg.DagsterInstance):
        self.registry, self.defs, self.instance = registry, defs, instance
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
        for dataset in self.registry.inputs:
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


def dates_in(path: Path) -> set[str]:
    """The ISO dates of a landing file's ``Date`` column, read with the csv module."""
    with open(path, newline="", encoding="utf-8-sig") as file:
        return {datetime.strptime(row["Date"], "%m/%d/%Y").date().isoformat() for row in csv.DictReader(file)}


def materialization_of(result: dg.ExecuteInProcessResult, table: str) -> dg.AssetMaterialization:
    (materialization,) = result.asset_materializations_for_node(table)
    return materialization


def check_shapes(result: dg.ExecuteInProcessResult, table: str) -> dict[str, tuple[bool, frozenset[str]]]:
    """Each check a run evaluated on ``table``: whether it passed, and its metadata's keys."""
    evaluations = [
        e.event_specific_data
        for e in result.all_events
        if e.event_type == dg.DagsterEventType.ASSET_CHECK_EVALUATION
        and e.event_specific_data.asset_key == dg.AssetKey(table)
    ]
    return {check.check_name: (check.passed, frozenset(check.metadata)) for check in evaluations}


def test_landed_files_of_three_engines_become_the_joined_table_with_no_manual_step(
    quicksight_dir, lake_root, monkeypatch, capsys
) -> None:
    monkeypatch.setenv("ETL_REGISTRY", "three_engines")
    registry = THREE_ENGINES
    defs = build_definitions(registry, resources_for_environment())
    landed = {
        "sales": quicksight_dir / QUICKSIGHT_SALES,
        "marketing": quicksight_dir / QUICKSIGHT_MARKETING,
        "ad_spend": SAMPLES_DIR / AD_SPEND_SAMPLE,
    }
    results = {}
    with dg.instance_for_test() as instance:
        daemon = Daemon(registry, defs, instance)
        assert daemon.automation_tick() == []  # the daemon was already running before files landed
        assert daemon.arrival_ticks() == []
        for dataset in registry.inputs:
            assert daemon.automation_tick() == []  # an input is still missing: the barrier holds
            assert cli.main(["land", dataset.name, str(landed[dataset.name])]) == 0
            (request,) = daemon.arrival_ticks()
            assert request.tags["etl_platform/dataset"] == dataset.name
            results[dataset.output_table] = daemon.launch(request)
        (join_request,) = daemon.automation_tick()  # the join, and in the same run the report that follows it
        assert join_request.asset_selection == [
            dg.AssetKey("engagement_revenue_correlation"),
            dg.AssetKey(registry.joined.name),
        ]
        joined = daemon.launch(join_request)
        assert daemon.automation_tick() == [] and daemon.arrival_ticks() == []

    # One contract whatever the engine: the same checks, reported the same way, and the same
    # metadata on each table's materialisation.
    materializations = {table: materialization_of(result, table) for table, result in results.items()}
    keys = {table: set(m.metadata) for table, m in materializations.items()}
    assert keys["sales_daily"] == keys["marketing_daily"] == keys["ad_spend_daily"]
    assert {"engine", "engine_usage", "estimated_cost_usd", "dagster/row_count", "rejected_rows"} <= keys["sales_daily"]
    engines = {table: m.metadata["engine"].value for table, m in materializations.items()}
    assert engines == {"sales_daily": "local_spark", "marketing_daily": "local_spark", "ad_spend_daily": "duckdb"}
    checks = {table: check_shapes(result, table) for table, result in results.items()}
    builtin = {"raw_schema", "parse_rejects", "date_valid", "date_gaps", "row_count_change"}
    for table, shapes in checks.items():
        assert builtin <= set(shapes), table
        assert all(passed for passed, _ in shapes.values()), table
    for name in builtin:
        assert checks["sales_daily"][name] == checks["marketing_daily"][name] == checks["ad_spend_daily"][name]
    days = {name: dates_in(path) for name, path in landed.items()}
    common = sorted(set.intersection(*days.values()))
    assert materializations["ad_spend_daily"].metadata["dagster/row_count"].value == len(days["ad_spend"])
    assert materialization_of(joined, registry.joined.name).metadata["dagster/row_count"].value == len(common)

    capsys.readouterr()
    assert (
        cli.main(["query", "select count(*), min(date), max(date) from sales_marketing_daily", "--format", "csv"]) == 0
    )
    assert capsys.readouterr().out.splitlines()[1:] == [f"{len(common)},{common[0]},{common[-1]}"]
