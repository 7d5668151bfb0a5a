"""Bad files stop at their table's checks in a real run (local Spark): the join is not built."""

import dagster as dg
import pytest

from etl_platform import cli
from etl_platform.datasets import REGISTRY
from etl_platform.definitions import build_definitions
from etl_platform.environment import resources_for_environment
from etl_platform.project import SAMPLES_DIR
from etl_platform.samples import MARKETING_SAMPLE, SALES_SAMPLE

pytestmark = pytest.mark.e2e


def _first_lines(path, count: int) -> list[str]:
    with open(path) as f:
        return [next(f) for _ in range(count)]


def test_negative_revenue_and_missing_column_stop_at_the_gates(tmp_path, lake_root) -> None:
    sales = _first_lines(SAMPLES_DIR / SALES_SAMPLE, 60)
    fields = sales[5].split(",")
    fields[6] = "-" + fields[6]  # Forecasted Monthly Revenue
    sales[5] = ",".join(fields)
    (tmp_path / "sales.csv").write_text("".join(sales))
    marketing = [",".join(line.rstrip("\n").split(",")[:-1]) + "\n" for line in _first_lines(SAMPLES_DIR / MARKETING_SAMPLE, 60)]
    (tmp_path / "marketing.csv").write_text("".join(marketing))  # no Events column
    assert cli.main(["land", "sales", str(tmp_path / "sales.csv")]) == 0
    assert cli.main(["land", "marketing", str(tmp_path / "marketing.csv")]) == 0

    defs = build_definitions(REGISTRY, resources_for_environment())
    with dg.instance_for_test() as instance:
        result = defs.resolve_job_def("etl_pipeline_job").execute_in_process(instance=instance, raise_on_error=False)
        failed = {
            (e.event_specific_data.asset_key.to_user_string(), e.event_specific_data.check_name): e.event_specific_data
            for e in result.all_events
            if e.event_type == dg.DagsterEventType.ASSET_CHECK_EVALUATION and not e.event_specific_data.passed
        }
        failures = {e.step_key: e.event_specific_data.error.message for e in result.get_step_failure_events()}
        # marketing_daily's script stopped before building anything; its check is on the instance.
        schema_key = dg.AssetCheckKey(dg.AssetKey("marketing_daily"), "raw_schema")
        record = instance.event_log_storage.get_latest_asset_check_execution_by_key([schema_key])[schema_key]
        schema = record.event.dagster_event.event_specific_data

    assert not result.success
    assert set(failures) == {"sales_daily", "marketing_daily"}
    assert "non_negative_amounts" in failures["sales_daily"]
    assert "the header lacks expected columns ['Events']" in failures["marketing_daily"]
    negative = failed[("sales_daily", "non_negative_amounts")]
    assert negative.metadata["failing_rows"].value == 1
    assert negative.metadata["examples"].value[0]["Forecasted Monthly Revenue"] < 0
    assert schema.passed is False and schema.metadata["missing_columns"].value == ["Events"]
    assert schema.metadata["run_id"].value == result.run_id
    assert not (lake_root / "joined").exists()
    assert not (lake_root / "catalog.duckdb").exists()
