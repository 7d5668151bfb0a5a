"""The joined asset with the runner mocked: every registered input, and a clear error when one is missing."""

import json

import dagster as dg

from etl_platform.datasets import REGISTRY
from etl_platform.definitions import build_definitions
from etl_platform_tests.assets.fake_runner import RecordingRunner
from etl_platform_tests.helpers import table_resources


def _build_table(root, location: str) -> None:
    (root / location).mkdir(parents=True)
    (root / location / "part-0.snappy.parquet").write_bytes(b"PAR1")


def _materialize_join(root):
    RecordingRunner.calls.clear()
    defs = build_definitions(REGISTRY, table_resources(root, RecordingRunner()))
    return defs.resolve_implicit_global_asset_job_def().execute_in_process(
        asset_selection=[dg.AssetKey("sales_marketing_daily")], raise_on_error=False
    )


def test_join_passes_every_input_table_location(tmp_path) -> None:
    for dataset in REGISTRY.inputs:
        _build_table(tmp_path, dataset.table_location)
    result = _materialize_join(tmp_path)
    assert result.success
    ((script, args),) = RecordingRunner.calls
    assert script == "join_marketing_and_sales_data.py"
    assert json.loads(args["inputs"]) == {
        "sales_daily": str(tmp_path / "processed" / "sales_daily"),
        "marketing_daily": str(tmp_path / "processed" / "marketing_daily"),
    }
    assert args["output_path"] == str(tmp_path / "joined" / "sales_marketing_daily")


def test_join_refuses_to_run_before_its_inputs_exist(tmp_path) -> None:
    _build_table(tmp_path, "processed/sales_daily")
    result = _materialize_join(tmp_path)
    assert not result.success
    (failure,) = result.get_step_failure_events()
    assert "cannot join: marketing_daily not built yet" in failure.event_specific_data.error.message
    assert RecordingRunner.calls == []
