"""Athena and the Glue Data Catalog against moto; failure and timeout paths with botocore's Stubber."""

import datetime as dt

import boto3
import pytest
import requests
from botocore.stub import Stubber
from moto import mock_aws

from etl_platform.resources.athena import AthenaEngine
from etl_platform.resources.sql import SqlError

REGION = "us-east-1"


@pytest.fixture
def moto_env(monkeypatch):
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": REGION}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        boto3.client("glue", region_name=REGION).create_database(DatabaseInput={"Name": "etl"})
        yield


def _engine(**overrides) -> AthenaEngine:
    options = {"region_name": REGION, "database": "etl", "workgroup": "primary", "output_location": "s3://results/athena/"}
    return AthenaEngine(**{**options, **overrides})


def test_register_and_list_tables(moto_env) -> None:
    engine = _engine()
    engine.register_table("sales_daily", "s3://data/processed/sales_daily", [("date", "date"), ("opportunities", "bigint")], 2036, "run-1")
    engine.register_table("sales_daily", "s3://data/processed/v2/sales_daily", [("date", "date"), ("opportunities", "bigint")], 2040, "run-2")
    (info,) = engine.tables()
    assert (info.name, info.location, info.row_count, info.run_id) == ("sales_daily", "s3://data/processed/v2/sales_daily", 2040, "run-2")
    assert info.columns == [("date", "date"), ("opportunities", "bigint")] and info.built_at > 0
    table = boto3.client("glue", region_name=REGION).get_table(DatabaseName="etl", Name="sales_daily")["Table"]
    assert table["StorageDescriptor"]["SerdeInfo"]["SerializationLibrary"].endswith("ParquetHiveSerDe")
    assert table["Parameters"]["classification"] == "parquet"


def test_the_glue_table_carries_the_rejected_rows(moto_env) -> None:
    engine = _engine()
    engine.register_table("sales_daily", "s3://data/processed/v1/sales_daily", [("date", "date")], 2033, "run-1", rejected_rows=3)
    engine.register_table("marketing_daily", "s3://data/processed/v1/marketing_daily", [("date", "date")], 1461, "run-1")
    assert {info.name: (info.row_count, info.rejected_rows) for info in engine.tables()} == {
        "marketing_daily": (1461, 0),
        "sales_daily": (2033, 3),
    }


def test_missing_database_is_a_clear_error(moto_env) -> None:
    with pytest.raises(SqlError, match="Glue database nope does not exist"):
        _engine(database="nope").register_table("t", "s3://data/t", [("n", "bigint")], 1, "run-1")


def test_query_runs_in_the_workgroup_and_types_the_results(moto_env) -> None:
    result_rows = [
        {"Data": [{"VarCharValue": "date"}, {"VarCharValue": "n"}, {"VarCharValue": "x"}]},
        {"Data": [{"VarCharValue": "2016-01-02"}, {"VarCharValue": "1458"}, {}]},
    ]
    column_info = [{"Name": "date", "Type": "date"}, {"Name": "n", "Type": "bigint"}, {"Name": "x", "Type": "varchar"}]
    requests.post(
        "http://motoapi.amazonaws.com/moto-api/static/athena/query-results",
        json={"region": REGION, "results": [{"rows": result_rows, "column_info": column_info}]},
        timeout=10,
    )
    result = _engine(poll_interval_seconds=0).query("select date, count(*) as n, null as x from sales_marketing_daily")
    assert result.columns == ["date", "n", "x"]
    assert result.rows == [(dt.date(2016, 1, 2), 1458, None)]
    (execution_id,) = boto3.client("athena", region_name=REGION).list_query_executions()["QueryExecutionIds"]
    execution = boto3.client("athena", region_name=REGION).get_query_execution(QueryExecutionId=execution_id)["QueryExecution"]
    assert execution["QueryExecutionContext"]["Database"] == "etl"
    assert execution["ResultConfiguration"]["OutputLocation"].startswith("s3://results/athena/")



def test_write_parquet_unloads_the_query_as_snappy_parquet(moto_env) -> None:
    _engine(poll_interval_seconds=0).write_parquet("WITH d AS (SELECT 1 AS n) SELECT n FROM d", "s3://data/reports/r/_versions/v1")
    athena = boto3.client("athena", region_name=REGION)
    (execution_id,) = athena.list_query_executions()["QueryExecutionIds"]
    execution = athena.get_query_execution(QueryExecutionId=execution_id)["QueryExecution"]
    assert execution["Query"] == (
        "UNLOAD (SELECT * FROM (\nWITH d AS (SELECT 1 AS n) SELECT n FROM d\n)) TO 's3://data/reports/r/_versions/v1/' "
        "WITH (format = 'PARQUET', compression = 'SNAPPY')"
    )
    assert execution["QueryExecutionContext"]["Database"] == "etl"

class _Stubbed(AthenaEngine):
    def athena_client(self):
        return STUB_CLIENT


STUB_CLIENT = boto3.client("athena", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x")


@pytest.mark.parametrize(
    "run",
    [lambda engine: engine.query("select * from nope"), lambda engine: engine.write_parquet("select * from nope", "s3://data/out")],
    ids=["query", "unload"],
)
def test_failed_query_raises_the_state_change_reason(run) -> None:
    engine = _Stubbed(region_name=REGION, database="etl", workgroup="primary", output_location="s3://r/", poll_interval_seconds=0)
    with Stubber(STUB_CLIENT) as stub:
        stub.add_response("start_query_execution", {"QueryExecutionId": "q1"})
        stub.add_response("get_query_execution", {"QueryExecution": {"Status": {"State": "FAILED", "StateChangeReason": "TABLE_NOT_FOUND: line 1:15:\n Table 'nope' does not exist"}}})
        with pytest.raises(SqlError, match="Athena query q1 failed: TABLE_NOT_FOUND: line 1:15: Table 'nope' does not exist"):
            run(engine)


def test_slow_query_is_stopped_at_the_timeout() -> None:
    engine = _Stubbed(region_name=REGION, database="etl", workgroup="primary", output_location="s3://r/",
                      query_timeout_seconds=0, poll_interval_seconds=0)  # fmt: skip
    with Stubber(STUB_CLIENT) as stub:
        stub.add_response("start_query_execution", {"QueryExecutionId": "q2"})
        stub.add_response("get_query_execution", {"QueryExecution": {"Status": {"State": "RUNNING"}}})
        stub.add_response("stop_query_execution", {}, {"QueryExecutionId": "q2"})
        with pytest.raises(SqlError, match="q2 did not finish within 0 s"):
            engine.query("select 1")
        stub.assert_no_pending_responses()
