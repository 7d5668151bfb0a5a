"""Running one landing file through each engine: the SQL engine on DuckDB and on the fake Athena,
and the Spark script in-process (``test_bad_inputs._run``)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import boto3
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from moto import mock_aws

from etl_platform.assets.processed import process_job
from etl_platform.checks.settings import QualitySettings
from etl_platform.contract.jobs import ProcessJob
from etl_platform.contract.report import CheckOutcome, ScriptResult
from etl_platform.datasets import Engine, InputDataset
from etl_platform.project import SQL_SCRIPTS_DIR
from etl_platform.resources.athena import AthenaEngine
from etl_platform.resources.sql import DuckDBEngine
from etl_platform.resources.usage import EngineUsage
from etl_platform_tests.aws.fake_athena import FakeAthena
from etl_platform_tests.helpers import lake_catalog

HERE = Path(__file__).parent
REGION = "us-east-1"
LOG = logging.getLogger("sql_jobs_tests")


def sql_text(dataset: InputDataset) -> str:
    """A SQL input's own text; for a Spark input, the test SQL text computing what its Spark
    transform computes."""
    if dataset.engine is Engine.SQL:
        return (SQL_SCRIPTS_DIR / dataset.script).read_text()
    return (HERE / ("daily_sales.sql" if dataset.name == "sales" else "daily_marketing.sql")).read_text()


def sql_job(
    dataset: InputDataset, source: str, output: str, max_reject_share: float = 0.0, multiline: bool = False
) -> ProcessJob:
    """The dataset's job for the SQL engine: its row rules in standard SQL (double-quoted names)."""
    job = process_job(
        replace(dataset, max_reject_share=max_reject_share, multiline=multiline), source, output, QualitySettings()
    )
    rules = tuple(replace(rule, condition=rule.condition.replace("`", '"')) for rule in job.checks.row_checks)
    return replace(job, checks=replace(job.checks, row_checks=rules))


@dataclass
class Outcome:
    """What one engine made of one file: its failure (message with the file's path as ``<in>``,
    kind, line) or None, the output rows by date, every check by name."""

    failure: tuple[str, str, int | None] | None
    rows: list[dict[str, Any]] | None
    checks: dict[str, CheckOutcome]
    result: ScriptResult | None = None
    usage: EngineUsage | None = None


def _outcome(result: ScriptResult, source: str, rows: list[dict[str, Any]] | None, usage: EngineUsage) -> Outcome:
    failure = result.failure
    return Outcome(
        None if failure is None else (failure.message.replace(source, "<in>"), failure.kind.value, failure.line),
        None if failure else sorted(rows or [], key=lambda r: r["date"]),
        {c.name: c for c in result.checks},
        result,
        usage,
    )


def run_duckdb(tmp_path: Path, dataset: InputDataset, content: bytes, **options: Any) -> Outcome:
    source = tmp_path / "duckdb" / "in.csv"
    source.parent.mkdir(parents=True)
    source.write_bytes(content)
    job = sql_job(dataset, str(source), str(tmp_path / "duckdb" / "out"), **options)
    result, usage = DuckDBEngine(catalog=lake_catalog(tmp_path)).run_sql_job(job, sql_text(dataset), LOG)
    rows = pq.read_table(job.output_path).to_pylist() if result.failure is None else None
    return _outcome(result, str(source), rows, usage)


class FakeAthenaEngine(AthenaEngine):
    """The Athena engine on the FakeAthena of the running test (``athena`` fixture)."""

    def athena_client(self) -> Any:
        return FAKES[-1]


FAKES: list[FakeAthena] = []


@pytest.fixture
def athena(fake_aws_credentials):
    """moto's S3 with a landing and a results bucket, and an Athena engine on a FakeAthena."""
    with mock_aws():
        s3 = boto3.client("s3", region_name=REGION)
        for bucket in ("data", "results"):
            s3.create_bucket(Bucket=bucket)
        FAKES.append(FakeAthena(REGION))
        try:
            yield FakeAthenaEngine(
                region_name=REGION,
                database="etl",
                workgroup="primary",
                output_location="s3://results/athena/",
                poll_interval_seconds=0,
            )
        finally:
            FAKES.pop()


def run_athena(
    engine: AthenaEngine, dataset: InputDataset, content: bytes, name: str = "case", **options: Any
) -> Outcome:
    s3 = boto3.client("s3", region_name=REGION)
    key = f"landing/{name}/in.csv"
    s3.put_object(Bucket="data", Key=key, Body=content)
    source = f"s3://data/{key}"
    job = sql_job(dataset, source, f"s3://data/processed/{name}/out/", **options)
    result, usage = engine.run_sql_job(job, sql_text(dataset), LOG)
    rows = None
    if result.failure is None:
        listed = s3.list_objects_v2(Bucket="data", Prefix=f"processed/{name}/out/")["Contents"]
        rows = []
        for item in listed:
            body = s3.get_object(Bucket="data", Key=item["Key"])["Body"].read()
            rows += pq.read_table(pa.BufferReader(body)).to_pylist()
    return _outcome(result, source, rows, usage)
