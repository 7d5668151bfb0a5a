"""The joined asset with the runner mocked: every registered input, and a clear error when one is missing."""

import json

import dagster as dg
import pyarrow as pa
import pyarrow.parquet as pq

from etl_platform.assets.joined import joined_asset
from etl_platform.automation.cadence import Cycle
from etl_platform.datasets import REGISTRY
from etl_platform.resources import LocalLake
from etl_platform.tables import Build, LakeTables
from etl_platform_tests.assets.fake_runner import RecordingRunner
from etl_platform_tests.helpers import current_files, lake_catalog, table_resources


def _build_table(root, location: str) -> list[str]:
    """A published snapshot of the table at ``location``; returns its data files."""
    lake = LocalLake(root=str(root))
    tables = LakeTables(lake, lake_catalog(root))
    staged = tables.stage(location, "run-1234")
    (root / staged).mkdir(parents=True)
    pq.write_table(pa.table({"n": [1]}), root / staged / "part-0.snappy.parquet")
    name = location.rsplit("/", 1)[1]
    tables.publish(name, location, staged, Build(run_id="run-1234", rows=1))
    return current_files(root, name)


def _materialize_join(root, script_calls):
    """The joined asset, alone, on the test's resources."""
    return dg.materialize(
        [joined_asset(REGISTRY, Cycle.from_env())],
        resources=table_resources(root, RecordingRunner(record=script_calls)),
        raise_on_error=False,
    )


def test_join_passes_the_data_files_of_each_input_s_current_snapshot(tmp_path, script_calls) -> None:
    published = {dataset.output_table: _build_table(tmp_path, dataset.table_location) for dataset in REGISTRY.inputs}
    result = _materialize_join(tmp_path, script_calls)
    assert result.success
    ((script, args),) = script_calls.calls
    assert script == "join_marketing_and_sales_data.py"
    assert json.loads(args["inputs"]) == published  # the current snapshot of each input, by its files
    assert published["sales_daily"][0].startswith(str(tmp_path / "processed" / "sales_daily" / "data"))
    output = args["output_path"]
    assert output.startswith(str(tmp_path / "joined" / "sales_marketing_daily" / "data")) and "run-1234" not in output
    (joined_file,) = current_files(tmp_path, "sales_marketing_daily")
    assert joined_file.startswith(output + "/")
    snapshot = lake_catalog(tmp_path).current("sales_marketing_daily")
    inputs = {name: lake_catalog(tmp_path).current(name).snapshot_id for name in published}
    assert dict(snapshot.inputs) == inputs  # the snapshot records which input snapshots it joined


def test_join_refuses_to_run_before_its_inputs_exist(tmp_path, script_calls) -> None:
    _build_table(tmp_path, "processed/sales_daily")
    result = _materialize_join(tmp_path, script_calls)
    assert not result.success
    (failure,) = result.get_step_failure_events()
    assert "cannot join: marketing_daily not published yet" in failure.event_specific_data.error.message
    assert script_calls.calls == []
