"""The whole asset graph in the AWS profile, one input per engine: sales on Glue, marketing on EMR
Serverless, ad spend on Athena (the three-engine registry), on the QuickSight files and the ad
spend sample. S3, Glue, EMR Serverless, the Glue Data Catalog holding the Iceberg tables, Athena
and SNS are in a moto server; Glue and EMR Serverless runs are faked with local Spark and Athena's
queries with DuckDB, where moto runs nothing. The same figures as locally, read back by a PyIceberg
client of its own, and every build's engine, usage and cost."""

import dagster as dg
import pytest

from etl_platform import cli
from etl_platform.datasets import THREE_ENGINES
from etl_platform.definitions import build_definitions
from etl_platform.environment import initialized_resources, resources_for_environment
from etl_platform.project import SAMPLES_DIR
from etl_platform.samples import AD_SPEND_SAMPLE
from etl_platform.settings import get_settings
from etl_platform_tests.aws.conftest import (
    DATA_BUCKET,
    DATABASE,
    REGION,
    emr_runner_settings,
    glue_runner_settings,
    independent_catalog,
)
from etl_platform_tests.aws.fake_athena import FakeAthenaEngine
from etl_platform_tests.aws.fake_emr_serverless import FakeEmrServerlessRunner
from etl_platform_tests.aws.fake_glue import FakeGlueRunner
from etl_platform_tests.e2e.test_event_driven_pipeline import check_shapes, dates_in, materialization_of
from etl_platform_tests.helpers import QUICKSIGHT_MARKETING, QUICKSIGHT_SALES

pytestmark = pytest.mark.e2e


def read_rows(table: str) -> list[dict]:
    """The rows of the table's current snapshot."""
    return independent_catalog().load_table((DATABASE, table)).scan().to_arrow().to_pylist()


def test_aws_profile_materialises_one_input_per_engine_with_the_expected_figures_and_costs(
    aws, glue_runs, emr_runs, quicksight_dir, monkeypatch, capsys
) -> None:
    monkeypatch.setenv("ETL_PLATFORM_ENV", "aws")
    monkeypatch.setenv("ETL_REGISTRY", "three_engines")
    landed = {
        "sales": quicksight_dir / QUICKSIGHT_SALES,
        "marketing": quicksight_dir / QUICKSIGHT_MARKETING,
        "ad_spend": SAMPLES_DIR / AD_SPEND_SAMPLE,
    }
    for name, path in landed.items():
        assert cli.main(["land", name, str(path)]) == 0
    assert f"s3://{DATA_BUCKET}/landing/sales/{QUICKSIGHT_SALES}" in capsys.readouterr().out

    settings = get_settings()
    resources = resources_for_environment()
    resources["spark"] = FakeGlueRunner(**glue_runner_settings(glue_runs, message_interval_seconds=0.5))
    resources["emr_serverless"] = FakeEmrServerlessRunner(**emr_runner_settings(aws, emr_runs))
    resources["sql"] = FakeAthenaEngine(
        region_name=REGION,
        database=DATABASE,
        workgroup=settings.athena_workgroup,
        output_location=settings.athena_results,
        poll_interval_seconds=0.05,
    )
    with dg.instance_for_test() as instance:
        # The tables: the engagement report's SQL reads Iceberg tables through Athena's catalog,
        # which the DuckDB stand-in does not model (its SQL is tested on DuckDB, its UNLOAD in test_athena.py).
        tables = [dg.AssetKey(table) for table in THREE_ENGINES.table_locations()]
        job = build_definitions(THREE_ENGINES, resources).resolve_job_def("etl_pipeline_job")
        result = job.execute_in_process(instance=instance, asset_selection=tables)
        assert result.success

    processed = [d.output_table for d in THREE_ENGINES.inputs]
    materializations = {table: materialization_of(result, table) for table in [*processed, "sales_marketing_daily"]}
    engines = {table: m.metadata["engine"].value for table, m in materializations.items()}
    assert engines == {
        "sales_daily": "glue",
        "marketing_daily": "emr_serverless",
        "ad_spend_daily": "athena",
        "sales_marketing_daily": "glue",
    }
    # Every build says what it used and what it cost, in its engine's units.
    for table, materialization in materializations.items():
        assert materialization.metadata["estimated_cost_usd"].value > 0, table
    usage = {table: m.metadata["engine_usage"].value for table, m in materializations.items()}
    assert usage["sales_daily"]["dpus"] == 2 and usage["sales_daily"]["execution_seconds"] > 0
    assert usage["marketing_daily"]["vcpu_hours"] > 0
    assert usage["ad_spend_daily"]["queries"] > 0 and usage["ad_spend_daily"]["bytes_scanned"] > 0
    # One contract: the same metadata and the same checks, reported the same way, on every engine.
    keys = [set(materializations[table].metadata) for table in processed]
    assert keys[0] == keys[1] == keys[2]
    checks = {table: check_shapes(result, table) for table in [*processed, "sales_marketing_daily"]}
    assert all(passed for shapes in checks.values() for passed, _ in shapes.values())
    assert [len(shapes) for shapes in checks.values()] == [5 + 3, 5 + 1, 5 + 2, 4]  # built-in and row rules
    for name in ("raw_schema", "parse_rejects", "date_valid", "date_gaps", "row_count_change"):
        assert checks["sales_daily"][name] == checks["marketing_daily"][name] == checks["ad_spend_daily"][name]

    sales = read_rows("sales_daily")
    assert len(sales) == 2036
    assert sum(r["forecasted_lead_revenue"] for r in sales) == 2_714_843_612
    assert sum(r["forecasted_monthly_revenue"] for r in sales) == 3_823_804_672
    assert len(read_rows("marketing_daily")) == 1461
    spend = read_rows("ad_spend_daily")
    assert len(spend) == len(dates_in(landed["ad_spend"]))
    common = sorted(set.intersection(*(dates_in(path) for path in landed.values())))
    joined = [r["date"].isoformat() for r in read_rows("sales_marketing_daily")]
    assert joined == common
    assert {"ad_spend", "website_visits", "opportunities"} <= set(read_rows("sales_marketing_daily")[0])

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
        "ad_spend_daily": len(spend),
        "sales_marketing_daily": len(common),
    }
    assert infos["sales_marketing_daily"].location == f"s3://{DATA_BUCKET}/joined/sales_marketing_daily"
    assert files and all(f.startswith(f"s3://{DATA_BUCKET}/joined/sales_marketing_daily/data/") for f in files)
    assert ("date", "date") in infos["sales_daily"].columns
    assert ("ad_spend", "double") in infos["ad_spend_daily"].columns
    # Athena's scratch: the input copies and temporary tables are gone.
    scratch = aws["s3"].list_objects_v2(Bucket=settings.athena_results.split("/")[2], Prefix="athena-results/inputs/")
    assert scratch.get("KeyCount", 0) == 0
