"""Bad files stop at their table's checks in a real run (local Spark): the join is not built, the
current table stays; rows rejected within a dataset's declared tolerance are published with a warning."""

import json
from dataclasses import replace

import dagster as dg
import pytest

from etl_platform import cli
from etl_platform.datasets import MARKETING, REGISTRY, SALES, Registry
from etl_platform.definitions import build_definitions
from etl_platform.environment import resources_for_environment
from etl_platform.project import SAMPLES_DIR
from etl_platform.resources import DuckDBEngine
from etl_platform.samples import MARKETING_SAMPLE, SALES_HEADER, SALES_SAMPLE
from etl_platform_tests.helpers import lake_catalog

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
    marketing = [
        ",".join(line.rstrip("\n").split(",")[:-1]) + "\n" for line in _first_lines(SAMPLES_DIR / MARKETING_SAMPLE, 60)
    ]
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


SALES_DAILY = dg.AssetKey("sales_daily")


def _sales_file(path, bad_lines: list[int], field: int, value: str) -> None:
    """The first 400 lines of the sales sample (399 rows), with ``value`` in column ``field`` of
    ``bad_lines``: under 1% of the rows, which the platform once let through."""
    lines = _first_lines(SAMPLES_DIR / SALES_SAMPLE, 400)
    for number in bad_lines:
        fields = lines[number - 1].split(",")
        fields[field] = value
        lines[number - 1] = ",".join(fields)
    path.write_text("".join(lines))


def _build_sales(registry, instance, key: str):
    job = build_definitions(registry, resources_for_environment()).resolve_implicit_global_asset_job_def()
    config = {"ops": {"sales_daily": {"config": {"object_key": key}}}}
    return job.execute_in_process(
        instance=instance, asset_selection=[SALES_DAILY], run_config=config, raise_on_error=False
    )


def _parse_rejects(result):
    (evaluation,) = [
        e.event_specific_data
        for e in result.all_events
        if e.event_type == dg.DagsterEventType.ASSET_CHECK_EVALUATION
        and e.event_specific_data.check_name == "parse_rejects"
    ]
    return evaluation


@pytest.mark.parametrize(
    ("field", "value", "bad_lines", "reason"),
    [
        (6, "12k", [5, 120, 398], "Forecasted Monthly Revenue: '12k' is not a bigint"),
        (0, "2/30/2016", [17, 230], "Date: '2/30/2016' is not a date"),
    ],
)
def test_a_file_with_a_few_rejected_rows_is_refused_and_the_current_table_stays(
    tmp_path, lake_root, field, value, bad_lines, reason
) -> None:
    _sales_file(tmp_path / "good.csv", [], field, value)
    _sales_file(tmp_path / "bad.csv", bad_lines, field, value)
    assert cli.main(["land", "sales", str(tmp_path / "good.csv")]) == 0
    assert cli.main(["land", "sales", str(tmp_path / "bad.csv")]) == 0
    tables = lake_catalog(lake_root)
    catalog = DuckDBEngine(catalog=tables)
    total = "select count(*), sum(forecasted_monthly_revenue) from sales_daily"
    with dg.instance_for_test() as instance:
        assert _build_sales(REGISTRY, instance, "landing/sales/good.csv").success
        good, figures = tables.current("sales_daily"), catalog.query(total).rows
        refused = _build_sales(REGISTRY, instance, "landing/sales/bad.csv")

    assert not refused.success and [e.step_key for e in refused.get_step_failure_events()] == ["sales_daily"]
    check = _parse_rejects(refused)
    assert (check.passed, check.severity) == (False, dg.AssetCheckSeverity.ERROR)
    assert check.metadata["rejected_rows"].value == len(bad_lines) and check.metadata["input_rows"].value == 399
    assert tables.current("sales_daily") == good and catalog.query(total).rows == figures
    (report,) = [json.loads(p.read_text()) for p in (lake_root / "quarantine" / "sales").glob("*_bad.csv.error.json")]
    assert report["build_failed"] is True and report["run_id"] == refused.run_id
    (rejects,) = [c for c in report["checks"] if c["check"] == "parse_rejects"]
    assert (rejects["passed"], rejects["severity"], rejects["rejected_rows"]) == (False, "ERROR", len(bad_lines))
    assert [(example["_line"], example["_reason"]) for example in rejects["examples"]] == [
        (line, reason) for line in bad_lines
    ]
    assert all(example[SALES_HEADER[field]] == value for example in rejects["examples"])


def test_a_noisy_dataset_publishes_within_its_tolerance_and_says_what_it_left_out(tmp_path, lake_root, capsys) -> None:
    noisy = Registry(inputs=(replace(SALES, max_reject_share=0.01), MARKETING), joined=REGISTRY.joined)
    _sales_file(tmp_path / "sales.csv", [5, 120, 398], 6, "12k")
    assert cli.main(["land", "sales", str(tmp_path / "sales.csv")]) == 0
    with dg.instance_for_test() as instance:
        result = _build_sales(noisy, instance, "landing/sales/sales.csv")

    assert result.success
    check = _parse_rejects(result)
    assert (check.passed, check.severity) == (False, dg.AssetCheckSeverity.WARN)  # a warning, not a pass
    assert [example["_line"] for example in check.metadata["examples"].value] == [5, 120, 398]
    current = lake_catalog(lake_root).current("sales_daily")
    assert current.run_id == result.run_id and current.rejected_rows == 3
    capsys.readouterr()
    assert cli.main(["tables"]) == 0
    assert f"sales_daily  {current.rows:,} rows (3 rejected)  built " in capsys.readouterr().out
