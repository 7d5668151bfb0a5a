"""The joined asset with the runner mocked: every registered input, and a clear error when one is missing."""

import json

import dagster as dg

from etl_platform.datasets import REGISTRY
from etl_platform.definitions import build_definitions
from etl_platform.resources import LocalLake
from etl_platform.versions import TableVersions
from etl_platform_tests.assets.fake_runner import RecordingRunner
from etl_platform_tests.helpers import table_resources


def _build_table(root, location: str) -> str:
    """A published version of ``location``; returns its path."""
    lake = LocalLake(root=str(root))
    versions = TableVersions(lake, location)
    staged = versions.stage("run-1234")
    lake.write_bytes(f"{staged}/part-0.snappy.parquet", b"PAR1")
    return lake.uri(versions.publish(staged, "run-1234", 1).key)


def _materialize_join(root):
    RecordingRunner.calls.clear()
    defs = build_definitions(REGISTRY, table_resources(root, RecordingRunner()))
    return defs.resolve_implicit_global_asset_job_def().execute_in_process(
        asset_selection=[dg.AssetKey("sales_marketing_daily")], raise_on_error=False
    )


def test_join_passes_every_input_table_location(tmp_path) -> None:
    published = {dataset.output_table: _build_table(tmp_path, dataset.table_location) for dataset in REGISTRY.inputs}
    result = _materialize_join(tmp_path)
    assert result.success
    ((script, args),) = RecordingRunner.calls
    assert script == "join_marketing_and_sales_data.py"
    assert json.loads(args["inputs"]) == published  # the current version of each input, by its path
    assert published["sales_daily"].startswith(str(tmp_path / "processed" / "sales_daily" / "_versions"))
    output = args["output_path"]
    assert output.startswith(str(tmp_path / "joined" / "sales_marketing_daily" / "_versions")) and "run-1234" not in output
    assert TableVersions(LocalLake(root=str(tmp_path)), "joined/sales_marketing_daily").require_current().key in output


def test_join_refuses_to_run_before_its_inputs_exist(tmp_path) -> None:
    _build_table(tmp_path, "processed/sales_daily")
    result = _materialize_join(tmp_path)
    assert not result.success
    (failure,) = result.get_step_failure_events()
    assert "cannot join: marketing_daily not published yet" in failure.event_specific_data.error.message
    assert RecordingRunner.calls == []
