"""An AWS account in a moto server: buckets, Glue database and jobs, an EMR Serverless application,
scripts uploaded, ETL_* set."""

from __future__ import annotations

import urllib.request
from pathlib import Path

import boto3
import pytest
from moto.server import ThreadedMotoServer

from etl_platform.deploy import artifacts
from etl_platform.project import CONTRACT_ZIP, PIPES_ZIP, SCRIPTS_PREFIX, SHARED_SCRIPTS
from etl_platform.spark_service import free_port
from etl_platform_tests.aws.fake_glue import FakeRuns

REGION = "us-east-1"
DATA_BUCKET, ARTIFACT_BUCKET, SCRATCH_BUCKET = "etl-data", "etl-artifacts", "etl-scratch"
JOB_PREFIX, DATABASE, WORKGROUP, QUERY_WORKGROUP = "etl-platform-", "etl_platform", "etl-platform", "etl-platform-query"
QUERY_ROLE_ARN = "arn:aws:iam::123456789012:role/etl-platform-query"
SCRIPTS = ("process_sales_data.py", "process_marketing_data.py", "join_marketing_and_sales_data.py")
# What every job loads beside its script, as the deployed jobs do: the shared modules, the contract
# and dagster-pipes (so the scripts talk Pipes through the shipped copy, as on Glue).
PY_FILES = (*SHARED_SCRIPTS, CONTRACT_ZIP, PIPES_ZIP)
EXTRA_PY_FILES = ",".join(f"s3://{ARTIFACT_BUCKET}/{SCRIPTS_PREFIX}{name}" for name in PY_FILES)
EMR_ROLE_ARN = "arn:aws:iam::123456789012:role/etl-platform-emr-serverless"


def independent_catalog():
    """The moto server's Glue Data Catalog as any Iceberg reader opens it (Athena, Spark, another
    PyIceberg), not through the platform's own catalog resource."""
    import os

    from pyiceberg.catalog.glue import GlueCatalog

    endpoint = os.environ["AWS_ENDPOINT_URL"]
    return GlueCatalog(
        "reader",
        **{
            "glue.endpoint": endpoint,
            "glue.region": REGION,
            "s3.endpoint": endpoint,
            "s3.region": REGION,
            "s3.access-key-id": "testing",
            "s3.secret-access-key": "testing",
        },
    )


@pytest.fixture(autouse=True)
def _short_pipes_grace(monkeypatch):
    """Pipes' blob-store readers wait 10 s after a run for messages that, in the tests of runs
    that never start, will never come; 1 s keeps those tests quick without changing behaviour."""
    monkeypatch.setattr("dagster._core.pipes.utils.WAIT_FOR_LOGS_AFTER_EXECUTION_INTERVAL", 1)


@pytest.fixture(autouse=True)
def _quick_glue_polls(monkeypatch):
    """PipesGlueClient polls a running Glue run every 5 s; 0.2 s here, where runs take seconds."""
    import time
    from types import SimpleNamespace

    monkeypatch.setattr(
        "dagster_aws.pipes.clients.glue.time", SimpleNamespace(sleep=lambda seconds: time.sleep(min(seconds, 0.2)))
    )


@pytest.fixture
def aws(monkeypatch, tmp_path):
    """A moto server reachable from subprocesses (the scripts' own boto3) via AWS_ENDPOINT_URL."""
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    # The server keeps moto's in-process state between tests: start each from an empty account.
    urllib.request.urlopen(urllib.request.Request(f"http://127.0.0.1:{port}/moto-api/reset", method="POST")).close()
    env = {
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "ETL_AWS_REGION": REGION,
        "ETL_DATA_BUCKET": DATA_BUCKET,
        "ETL_SCRATCH_BUCKET": SCRATCH_BUCKET,
        "ETL_GLUE_JOB_PREFIX": JOB_PREFIX,
        "ETL_GLUE_DATABASE": DATABASE,
        "ETL_ATHENA_WORKGROUP": WORKGROUP,
        "ETL_ATHENA_RESULTS": f"s3://{SCRATCH_BUCKET}/athena-results/",
        "ETL_ATHENA_QUERY_WORKGROUP": QUERY_WORKGROUP,
        "ETL_ATHENA_QUERY_ROLE_ARN": QUERY_ROLE_ARN,
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    s3, glue = boto3.client("s3", region_name=REGION), boto3.client("glue", region_name=REGION)
    for bucket in (DATA_BUCKET, ARTIFACT_BUCKET, SCRATCH_BUCKET):
        s3.create_bucket(Bucket=bucket)
    for name, content in artifacts().items():  # as `etl-platform deploy` uploads them
        s3.put_object(Bucket=ARTIFACT_BUCKET, Key=f"{SCRIPTS_PREFIX}{name}", Body=content)
    glue.create_database(DatabaseInput={"Name": DATABASE})
    for workgroup in (WORKGROUP, QUERY_WORKGROUP):
        boto3.client("athena", region_name=REGION).create_work_group(Name=workgroup)
    for script in SCRIPTS:
        glue.create_job(
            Name=JOB_PREFIX + Path(script).stem,
            Role="arn:aws:iam::123456789012:role/etl-platform-glue",
            Command={
                "Name": "glueetl",
                "ScriptLocation": f"s3://{ARTIFACT_BUCKET}/{SCRIPTS_PREFIX}{script}",
                "PythonVersion": "3",
            },
            DefaultArguments={"--extra-py-files": EXTRA_PY_FILES},
            GlueVersion="5.0",
        )
    topic = boto3.client("sns", region_name=REGION).create_topic(Name="etl-platform-alerts")["TopicArn"]
    monkeypatch.setenv("ETL_ALERT_TOPIC_ARN", topic)
    emr = boto3.client("emr-serverless", region_name=REGION)
    application = emr.create_application(name="etl-platform", releaseLabel="emr-7.5.0", type="SPARK")
    monkeypatch.setenv("ETL_ARTIFACT_BUCKET", ARTIFACT_BUCKET)
    monkeypatch.setenv("ETL_EMR_SERVERLESS_APPLICATION_ID", application["applicationId"])
    monkeypatch.setenv("ETL_EMR_SERVERLESS_ROLE_ARN", EMR_ROLE_ARN)
    yield {"s3": s3, "glue": glue, "emr": emr, "emr_application": application["applicationId"]}
    server.stop()


@pytest.fixture
def glue_runs(aws, tmp_path) -> FakeRuns:
    """The fake Glue service's memory of this test's runs, shared by every client a test makes."""
    return FakeRuns(tmp_path / "glue-runs")


def glue_runner_settings(runs: FakeRuns, **overrides: object) -> dict[str, object]:
    """What a Glue runner against this moto stack is configured with (the fake Glue's ``runs`` included)."""
    return {
        "region_name": REGION,
        "job_prefix": JOB_PREFIX,
        "pipes_bucket": SCRATCH_BUCKET,
        "message_interval_seconds": 0.2,
        "script_output_in_log": False,  # each run's end would wait 2 s for it; its own test turns it on
        "runs": runs,
        **overrides,
    }


@pytest.fixture
def emr_runs(aws, tmp_path) -> FakeRuns:
    """The fake EMR Serverless service's memory of this test's runs."""
    return FakeRuns(tmp_path / "emr-runs")


def emr_runner_settings(aws: dict, runs: FakeRuns, **overrides: object) -> dict[str, object]:
    """What an EMR Serverless runner against this moto stack is configured with (the fake's ``runs`` included)."""
    return {
        "region_name": REGION,
        "pipes_bucket": SCRATCH_BUCKET,
        "message_interval_seconds": 0.2,
        "application_id": aws["emr_application"],
        "execution_role_arn": EMR_ROLE_ARN,
        "artifact_bucket": ARTIFACT_BUCKET,
        "poll_interval_seconds": 0.2,
        "script_output_in_log": False,  # each run's end would wait 2 s for it; its own test turns it on
        "runs": runs,
        **overrides,
    }
