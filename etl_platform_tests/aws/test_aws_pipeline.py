"""The whole asset graph in the AWS profile on the QuickSight files: S3, Glue (faked with local
Spark), the Glue Data Catalog holding the Iceberg tables, Athena and SNS all in a moto server;
the same figures as locally, read back by a PyIceberg client of its own."""

import dagster as dg
import pytest

from etl_platform import cli
from etl_platform.datasets import REGISTRY
from etl_platform.definitions import build_definitions
from etl_platform.environment import initialized_resources, resources_for_environment
from etl_platform_tests.aws.conftest import (
    DATA_BUCKET,
    DATABASE,
    glue_runner_settings,
    independent_catalog,
)
from etl_platform_tests.aws.fake_glue import FakeGlueRunner
from etl_platform_tests.helpers import QUICKSIGHT_MARKETING, QUICKSIGHT_SALES

pytestmark = pytest.mark.e2e


def read_rows(table: str) -> list[dict]:
    """The rows of the table's current snapshot."""
    return independent_catalog().load_table((DATABASE, table)).scan().to_arrow().to_pylist()


def test_aws_profile_materialises_the_graph_with_the_expected_figures(
    aws, glue_runs, quicksight_dir, monkeypatch, capsys
) -> None:
    monkeypatch.setenv("ETL_PLATFORM_ENV", "aws")
    assert cli.main(["land", "sales", str(quicksight_dir / QUICKSIGHT_SALES)]) == 0
    assert cli.main(["land", "marketing", str(quicksight_dir / QUICKSIGHT_MARKETING)]) == 0
    assert f"s3://{DATA_BUCKET}/landing/sales/{QUICKSIGHT_SALES}" in capsys.readouterr().out

    resources = resources_for_environment()
    resources["spark"] = FakeGlueRunner(**glue_runner_settings(glue_runs, message_interval_seconds=0.5))
    with dg.instance_for_test() as instance:
        # The Spark-built tables: moto's Athena runs no SQL, so the engagement report (its SQL
        # tested on DuckDB, its UNLOAD in test_athena.py) would have nothing to correlate.
        tables = [dg.AssetKey(table) for table in REGISTRY.table_locations()]
        job = build_definitions(REGISTRY, resources).resolve_job_def("etl_pipeline_job")
        result = job.execute_in_process(instance=instance, asset_selection=tables)
        assert result.success
        checks = [
            e.event_specific_data
            for e in result.all_events
            if e.event_type == dg.DagsterEventType.ASSET_CHECK_EVALUATION
        ]
    assert len(checks) == 18 and all(c.passed for c in checks)

    sales = read_rows("sales_daily")
    assert len(sales) == 2036
    assert sum(r["forecasted_lead_revenue"] for r in sales) == 2_714_843_612
    assert sum(r["forecasted_monthly_revenue"] for r in sales) == 3_823_804_672
    assert len(read_rows("marketing_daily")) == 1461
    joined = [r["date"].isoformat() for r in read_rows("sales_marketing_daily")]
    assert (len(joined), joined[0], joined[-1]) == (1458, "2013-01-01", "2016-12-31") and joined == sorted(joined)

    # Registered as Iceberg tables in the Glue database, as Athena finds them.
    glue_table = aws["glue"].get_table(DatabaseName=DATABASE, Name="sales_marketing_daily")["Table"]
    assert glue_table["Parameters"]["table_type"].upper() == "ICEBERG"
    assert glue_table["Parameters"]["metadata_location"].startswith(
        f"s3://{DATA_BUCKET}/joined/sales_marketing_daily/metadata/"
    )
    with initialized_resources() as ready:  # the platform's own view of the same catalog
        infos = {t.name: t for t in ready["catalog"].infos()}
        files = ready["catalog"].data_files("sales_marketing_daily")
    assert {name: t.row_count for name, t in infos.items()} == {
        "sales_daily": 2036,
        "marketing_daily": 1461,
        "sales_marketing_daily": 1458,
    }
    assert infos["sales_marketing_daily"].location == f"s3://{DATA_BUCKET}/joined/sales_marketing_daily"
    assert files and all(f.startswith(f"s3://{DATA_BUCKET}/joined/sales_marketing_daily/data/") for f in files)
    assert ("date", "date") in infos["sales_daily"].columns
