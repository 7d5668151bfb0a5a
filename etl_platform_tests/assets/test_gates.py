"""Quality gates in a run (runner mocked): ERROR checks stop the join and the catalog, WARN checks do not."""

import dagster as dg

from etl_platform.datasets import REGISTRY
from etl_platform.definitions import build_definitions
from etl_platform_tests.assets.fake_runner import RecordingRunner
from etl_platform_tests.helpers import lake_catalog, table_resources


def _land_both(root) -> None:
    for dataset in REGISTRY.inputs:
        path = root / dataset.landing_key_prefix / "week47.csv"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("Date\n1/1/2016\n")


def _run(root, failing: list[str], script_calls):
    _land_both(root)
    runner = RecordingRunner(record=script_calls, failing_checks=failing)
    defs = build_definitions(REGISTRY, table_resources(root, runner))
    with dg.instance_for_test() as instance:
        # The Spark-built tables only: the stand-in runner's tables hold just dates, which the
        # engagement report cannot correlate (it has its own tests, in test_insight.py).
        tables = [dg.AssetKey(table) for table in REGISTRY.table_locations()]
        result = defs.resolve_job_def("etl_pipeline_job").execute_in_process(
            instance=instance, asset_selection=tables, raise_on_error=False
        )
        checks = {
            (e.asset_key.to_user_string(), e.check_name): e.passed
            for e in (
                event.event_specific_data
                for event in result.all_events
                if event.event_type == dg.DagsterEventType.ASSET_CHECK_EVALUATION
            )
        }
    catalog = set(lake_catalog(root).names())
    return result, checks, catalog


def test_failed_blocking_check_stops_the_join_and_keeps_the_catalog(tmp_path, script_calls) -> None:
    result, checks, catalog = _run(tmp_path, ["non_negative_amounts"], script_calls)
    assert not result.success
    assert checks[("sales_daily", "non_negative_amounts")] is False
    assert [e.step_key for e in result.get_step_failure_events()] == ["sales_daily"]
    assert "join_marketing_and_sales_data.py" not in [script for script, _ in script_calls.calls]
    assert catalog == {"marketing_daily"}


def test_failed_advisory_check_does_not_block(tmp_path, script_calls) -> None:
    result, checks, catalog = _run(tmp_path, ["date_gaps"], script_calls)
    assert result.success
    assert checks[("sales_daily", "date_gaps")] is False and checks[("marketing_daily", "date_gaps")] is False
    assert "join_marketing_and_sales_data.py" in [script for script, _ in script_calls.calls]
    assert catalog == {"sales_daily", "marketing_daily", "sales_marketing_daily"}


def test_row_count_change_compares_with_the_previous_build(tmp_path) -> None:
    defs = build_definitions(REGISTRY, table_resources(tmp_path, RecordingRunner(row_count=100)))
    smaller = build_definitions(REGISTRY, table_resources(tmp_path, RecordingRunner(row_count=10)))
    _land_both(tmp_path)
    with dg.instance_for_test() as instance:
        for definitions in (defs, smaller):
            definitions.resolve_implicit_global_asset_job_def().execute_in_process(
                instance=instance, asset_selection=[dg.AssetKey("sales_daily")]
            )
        check_key = dg.AssetCheckKey(dg.AssetKey("sales_daily"), "row_count_change")
        record = instance.event_log_storage.get_latest_asset_check_execution_by_key([check_key])[check_key]
        evaluation = record.event.dagster_event.event_specific_data
    assert evaluation.passed is False
    assert (evaluation.metadata["previous_rows"].value, evaluation.metadata["rows"].value) == (100, 10)
