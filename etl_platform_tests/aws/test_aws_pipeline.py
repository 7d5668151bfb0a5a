"""The whole asset graph in the AWS profile on the QuickSight files: S3, Glue (faked with local
Spark), Athena's Glue catalog and SNS all in a moto server; the same figures as locally."""

import io
import json

import dagster as dg
import pyarrow.parquet as pq
import pytest

from etl_platform import cli
from etl_platform.datasets import REGISTRY
from etl_platform.definitions import build_definitions
from etl_platform.environment import initialized_resources, resources_for_environment
from etl_platform_tests.aws.conftest import ARTIFACT_BUCKET, DATA_BUCKET, JOB_PREFIX, REGION
from etl_platform_tests.aws.fake_glue import FakeGlueRunner
from etl_platform_tests.helpers import QUICKSIGHT_MARKETING, QUICKSIGHT_SALES

pytestmark = pytest.mark.e2e


def _read_table(s3, location: str):
    """The rows of the table's current version, found through its pointer object as readers do."""
    table = location.removeprefix(f"s3://{DATA_BUCKET}/").rstrip("/")
    pointer = json.loads(s3.get_object(Bucket=DATA_BUCKET, Key=f"{table}/_current.json")["Body"].read())
    prefix = pointer["current"]["key"] + "/"
    keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=DATA_BUCKET, Prefix=prefix)["Contents"] if o["Key"].endswith(".parquet"))
    tables = [pq.read_table(io.BytesIO(s3.get_object(Bucket=DATA_BUCKET, Key=key)["Body"].read())) for key in keys]
    return [row for table in tables for row in table.to_pylist()]


def test_aws_profile_materialises_the_graph_with_the_expected_figures(aws, quicksight_dir, monkeypatch, capsys) -> None:
    monkeypatch.setenv("ETL_PLATFORM_ENV", "aws")
    assert cli.main(["land", "sales", str(quicksight_dir / QUICKSIGHT_SALES)]) == 0
    assert cli.main(["land", "marketing", str(quicksight_dir / QUICKSIGHT_MARKETING)]) == 0
    assert f"s3://{DATA_BUCKET}/landing/sales/{QUICKSIGHT_SALES}" in capsys.readouterr().out

    resources = resources_for_environment()
    resources["spark"] = FakeGlueRunner(region_name=REGION, job_prefix=JOB_PREFIX, pipes_bucket=ARTIFACT_BUCKET,
                                        message_interval_seconds=0.5, workdir=str(aws["workdir"]))  # fmt: skip
    with dg.instance_for_test() as instance:
        # The Spark-built tables: moto's Athena runs no SQL, so the engagement report (its SQL
        # tested on DuckDB, its UNLOAD in test_athena.py) would have nothing to correlate.
        tables = [dg.AssetKey(table) for table in REGISTRY.table_locations()]
        job = build_definitions(REGISTRY, resources).resolve_job_def("etl_pipeline_job")
        result = job.execute_in_process(instance=instance, asset_selection=tables)
        assert result.success
        checks = [e.event_specific_data for e in result.all_events if e.event_type == dg.DagsterEventType.ASSET_CHECK_EVALUATION]
    assert len(checks) == 18 and all(c.passed for c in checks)

    sales = _read_table(aws["s3"], f"s3://{DATA_BUCKET}/processed/sales_daily")
    assert len(sales) == 2036
    assert sum(r["forecasted_lead_revenue"] for r in sales) == 2_714_843_612
    assert sum(r["forecasted_monthly_revenue"] for r in sales) == 3_823_804_672
    assert len(_read_table(aws["s3"], f"s3://{DATA_BUCKET}/processed/marketing_daily")) == 1461
    joined = [r["date"].isoformat() for r in _read_table(aws["s3"], f"s3://{DATA_BUCKET}/joined/sales_marketing_daily")]
    assert (len(joined), joined[0], joined[-1]) == (1458, "2013-01-01", "2016-12-31") and joined == sorted(joined)

    with initialized_resources() as ready:  # the Glue Data Catalog, as Athena sees it
        catalog = {t.name: t for t in ready["sql"].tables()}
    assert {name: t.row_count for name, t in catalog.items()} == {
        "sales_daily": 2036, "marketing_daily": 1461, "sales_marketing_daily": 1458,
    }  # fmt: skip
    assert catalog["sales_marketing_daily"].location.startswith(f"s3://{DATA_BUCKET}/joined/sales_marketing_daily/_versions/")
    assert ("date", "date") in catalog["sales_daily"].columns
