"""The real QuickSight files through Dagster and real local Spark: the figures the original produced."""

import datetime as dt

import dagster as dg
import pyarrow.parquet as pq
import pyspark
import pytest

from etl_platform import cli
from etl_platform.datasets import REGISTRY
from etl_platform.definitions import build_definitions
from etl_platform.environment import resources_for_environment
from etl_platform_tests.helpers import QUICKSIGHT_MARKETING, QUICKSIGHT_SALES, current_files, iceberg_table

pytestmark = pytest.mark.e2e


def _query(sql: str, capsys) -> list[str]:
    capsys.readouterr()
    assert cli.main(["query", sql, "--format", "csv"]) == 0
    return capsys.readouterr().out.strip().splitlines()[1:]


def test_quicksight_files_produce_the_expected_tables(quicksight_dir, lake_root, capsys) -> None:
    assert cli.main(["land", "sales", str(quicksight_dir / QUICKSIGHT_SALES)]) == 0
    assert cli.main(["land", "marketing", str(quicksight_dir / QUICKSIGHT_MARKETING)]) == 0
    defs = build_definitions(REGISTRY, resources_for_environment())
    with dg.instance_for_test() as instance:
        result = defs.resolve_job_def("etl_pipeline_job").execute_in_process(instance=instance)
        assert result.success
        metadata = {
            table: instance.get_latest_materialization_event(dg.AssetKey(table)).asset_materialization.metadata
            for table in REGISTRY.table_locations()
        }
        evaluations = [
            e.event_specific_data
            for e in result.all_events
            if e.event_type == dg.DagsterEventType.ASSET_CHECK_EVALUATION
        ]
        said = [entry.user_message for entry in instance.all_logs(result.run_id)]

    # The scripts ran on this environment's Spark (Spark 3.5 in .venv-spark35, as on Glue 5).
    versions = {line.rsplit(" ", 1)[-1] for line in said if " with Spark " in line}
    assert versions == {pyspark.__version__}, versions

    assert _query(
        "select count(*), sum(forecasted_lead_revenue), sum(forecasted_monthly_revenue) from sales_daily", capsys
    ) == ["2036,2714843612,3823804672"]
    assert _query("select count(*) from marketing_daily", capsys) == ["1461"]
    assert _query("select count(*), min(date), max(date) from sales_marketing_daily", capsys) == [
        "1458,2013-01-01,2016-12-31"
    ]

    # Stored ascending by the DATE value, in the order the files are read.
    files = current_files(lake_root, "sales_marketing_daily")
    dates = [d for f in files for d in pq.read_table(f, columns=["date"]).column("date").to_pylist()]
    assert dates == sorted(dates) and dates[:2] == [dt.date(2013, 1, 1), dt.date(2013, 1, 2)]
    assert all(f.endswith(".snappy.parquet") for f in files)
    # Any PyIceberg client reads the same figures from the documented catalog.
    independent = {table: iceberg_table(lake_root, table).scan().to_arrow() for table in REGISTRY.table_locations()}
    assert {table: data.num_rows for table, data in independent.items()} == {
        "sales_daily": 2036,
        "marketing_daily": 1461,
        "sales_marketing_daily": 1458,
    }
    assert sum(independent["sales_daily"].column("forecasted_monthly_revenue").to_pylist()) == 3_823_804_672

    assert metadata["sales_daily"]["dagster/row_count"].value == 2036
    assert metadata["marketing_daily"]["dagster/row_count"].value == 1461
    assert metadata["sales_marketing_daily"]["dagster/row_count"].value == 1458
    assert metadata["sales_daily"]["source_object"].value == f"landing/sales/{QUICKSIGHT_SALES}"
    assert metadata["marketing_daily"]["rejected_rows"].value == 0
    schema = {c.name: c.type for c in metadata["marketing_daily"]["dagster/column_schema"].value.columns}
    assert schema["date"] == "date" and schema["mailing_list_adds"] == "bigint" and schema["events"] == "string"
    joined_columns = [c.name for c in metadata["sales_marketing_daily"]["dagster/column_schema"].value.columns]
    assert joined_columns.count("date") == 1 and joined_columns[0] == "date"

    # Every check ran and passed on the real data; lineage reaches both inputs.
    # Each file's rows counted once, in the pass that wrote its table.
    read = {
        e.asset_key.path[-1]: e.metadata["input_rows"].value for e in evaluations if e.check_name == "parse_rejects"
    }
    assert read == {"sales_daily": 20994, "marketing_daily": 1461}
    assert len(evaluations) == 20 and all(e.passed for e in evaluations), [
        e.check_name for e in evaluations if not e.passed
    ]
    lineage = metadata["sales_marketing_daily"]["dagster/column_lineage"].value.deps_by_column
    assert {dep.asset_key for dep in lineage["date"]} == {dg.AssetKey("sales_daily"), dg.AssetKey("marketing_daily")}
    assert [dep.asset_key for dep in lineage["forecasted_lead_revenue"]] == [dg.AssetKey("sales_daily")]
    assert [dep.asset_key for dep in lineage["website_visits"]] == [dg.AssetKey("marketing_daily")]

    # The engagement report: 17 metrics x 4 sales figures, the strongest relationship first.
    assert _query(
        "select engagement_metric, sales_metric, round(best_correlation, 3), best_lag_days from engagement_revenue_correlation"
        " order by abs(best_correlation) desc limit 1",
        capsys,
    ) == ["website_pageviews,opportunities,0.904,0"]
    assert _query(
        "select count(*), min(days), round(max(best_correlation), 3) from engagement_revenue_correlation", capsys
    ) == ["68,1458,0.904"]

    # The query engine's views return what the current snapshots' Parquet files hold.
    for table in REGISTRY.table_locations():
        rows = sum(pq.read_table(f).num_rows for f in current_files(lake_root, table))
        assert _query(f"select count(*) from {table}", capsys) == [str(rows)]
