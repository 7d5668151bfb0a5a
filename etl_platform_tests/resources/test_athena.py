"""Athena against moto; failure and timeout paths with botocore's Stubber. (Tables are registered
in the Glue Data Catalog by PyIceberg when they are published, not by the engine.)"""

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
def moto_env(fake_aws_credentials):
    with mock_aws():
        yield


def _engine(**overrides) -> AthenaEngine:
    options = {
        "region_name": REGION,
        "database": "etl",
        "workgroup": "primary",
        "output_location": "s3://results/athena/",
    }
    return AthenaEngine(**{**options, **overrides})


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
    execution = boto3.client("athena", region_name=REGION).get_query_execution(QueryExecutionId=execution_id)[
        "QueryExecution"
    ]
    assert execution["QueryExecutionContext"]["Database"] == "etl"
    assert execution["ResultConfiguration"]["OutputLocation"].startswith("s3://results/athena/")


def test_queries_run_in_the_query_workgroup_as_the_query_role_and_unloads_do_not(moto_env) -> None:
    role = "arn:aws:iam::123456789012:role/etl-platform-query"
    engine = _engine(poll_interval_seconds=0, query_workgroup="etl-query", query_role_arn=role)
    athena = boto3.client("athena", region_name=REGION)
    athena.create_work_group(Name="etl-query")
    session = engine.query_session()
    assert session is not None
    identity = session.client("sts").get_caller_identity()["Arn"]
    assert identity == "arn:aws:sts::123456789012:assumed-role/etl-platform-query/etl-platform-query"
    engine.query("select 1")
    engine.write_parquet("select 1", "s3://data/reports/r/data/b1")
    executions = [
        athena.get_query_execution(QueryExecutionId=i)["QueryExecution"]
        for i in athena.list_query_executions()["QueryExecutionIds"]
    ]
    assert sorted((e["Query"].split()[0], e["WorkGroup"]) for e in executions) == [
        ("UNLOAD", "primary"),
        ("select", "etl-query"),
    ]
    assert _engine().query_session() is None  # no role: the caller's own credentials


@pytest.mark.parametrize("as_of", ["4942452379865544723", "2026-11-30T09:00:00"])
def test_time_travel_is_refused_with_how_to_write_it_in_the_sql(moto_env, as_of) -> None:
    with pytest.raises(
        SqlError, match=r"on Athena, write the time travel into the SQL: FROM t FOR VERSION AS OF <snapshot id>"
    ):
        _engine(poll_interval_seconds=0).query("select count(*) from sales_daily", as_of=as_of)
    assert boto3.client("athena", region_name=REGION).list_query_executions()["QueryExecutionIds"] == []  # nothing ran


def test_write_parquet_unloads_the_query_as_snappy_parquet(moto_env) -> None:
    _engine(poll_interval_seconds=0).write_parquet(
        "WITH d AS (SELECT 1 AS n) SELECT n FROM d", "s3://data/reports/r/data/b1"
    )
    athena = boto3.client("athena", region_name=REGION)
    (execution_id,) = athena.list_query_executions()["QueryExecutionIds"]
    execution = athena.get_query_execution(QueryExecutionId=execution_id)["QueryExecution"]
    assert execution["Query"] == (
        "UNLOAD (SELECT * FROM (\nWITH d AS (SELECT 1 AS n) SELECT n FROM d\n)) TO 's3://data/reports/r/data/b1/' "
        "WITH (format = 'PARQUET', compression = 'SNAPPY')"
    )
    assert execution["QueryExecutionContext"]["Database"] == "etl"


class _Stubbed(AthenaEngine):
    def athena_client(self):
        return STUB_CLIENT


STUB_CLIENT = boto3.client("athena", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x")


@pytest.mark.parametrize(
    "run",
    [
        lambda engine: engine.query("select * from nope"),
        lambda engine: engine.write_parquet("select * from nope", "s3://data/out"),
    ],
    ids=["query", "unload"],
)
def test_failed_query_raises_the_state_change_reason(run) -> None:
    engine = _Stubbed(
        region_name=REGION, database="etl", workgroup="primary", output_location="s3://r/", poll_interval_seconds=0
    )
    with Stubber(STUB_CLIENT) as stub:
        stub.add_response("start_query_execution", {"QueryExecutionId": "q1"})
        stub.add_response(
            "get_query_execution",
            {
                "QueryExecution": {
                    "Status": {
                        "State": "FAILED",
                        "StateChangeReason": "TABLE_NOT_FOUND: line 1:15:\n Table 'nope' does not exist",
                    }
                }
            },
        )
        with pytest.raises(
            SqlError, match="Athena query q1 failed: TABLE_NOT_FOUND: line 1:15: Table 'nope' does not exist"
        ):
            run(engine)


def test_slow_query_is_stopped_at_the_timeout() -> None:
    engine = _Stubbed(
        region_name=REGION,
        database="etl",
        workgroup="primary",
        output_location="s3://r/",
        query_timeout_seconds=0,
        poll_interval_seconds=0,
    )
    with Stubber(STUB_CLIENT) as stub:
        stub.add_response("start_query_execution", {"QueryExecutionId": "q2"})
        stub.add_response("get_query_execution", {"QueryExecution": {"Status": {"State": "RUNNING"}}})
        stub.add_response("stop_query_execution", {}, {"QueryExecutionId": "q2"})
        with pytest.raises(SqlError, match="q2 did not finish within 0 s"):
            engine.query("select 1")
        stub.assert_no_pending_responses()


def test_each_querys_scanned_bytes_are_returned_and_priced_at_ten_megabytes_at_least() -> None:
    engine = _Stubbed(
        region_name=REGION, database="etl", workgroup="primary", output_location="s3://r/", poll_interval_seconds=0
    )
    finished = {"State": "SUCCEEDED"}
    with Stubber(STUB_CLIENT) as stub:
        stub.add_response("start_query_execution", {"QueryExecutionId": "q3"})
        stub.add_response(
            "get_query_execution",
            {"QueryExecution": {"Status": finished, "Statistics": {"DataScannedInBytes": 25_000_000}}},
        )
        stub.add_response(
            "get_query_results",
            {
                "ResultSet": {
                    "Rows": [{"Data": [{"VarCharValue": "n"}]}, {"Data": [{"VarCharValue": "7"}]}],
                    "ResultSetMetadata": {"ColumnInfo": [{"Name": "n", "Type": "bigint"}]},
                }
            },
        )
        stub.add_response("start_query_execution", {"QueryExecutionId": "q4"})
        stub.add_response(
            "get_query_execution", {"QueryExecution": {"Status": finished, "Statistics": {"DataScannedInBytes": 1_000}}}
        )
        result = engine.query("select count(*) as n from sales_daily")
        written = engine.write_parquet("select 1 as n", "s3://data/reports/r/data/b2")
    assert (result.rows, result.scanned_bytes, written) == ([(7,)], 25_000_000, 1_000)
    usage = engine.usage([result.scanned_bytes, written], wall_seconds=3.0)
    # 25 MB and the 10 MB minimum of the second query, at $5 per TB.
    assert usage.engine == "athena" and usage.usage == {"queries": 2, "bytes_scanned": 25_001_000}
    assert usage.estimated_cost_usd == pytest.approx(35e6 / 1e12 * 5)


def test_a_query_is_stopped_at_the_jobs_limit_when_it_comes_before_athenas_own() -> None:
    engine = _Stubbed(
        region_name=REGION, database="etl", workgroup="primary", output_location="s3://r/", poll_interval_seconds=0
    )
    with Stubber(STUB_CLIENT) as stub:
        stub.add_response("start_query_execution", {"QueryExecutionId": "q5"})
        stub.add_response("get_query_execution", {"QueryExecution": {"Status": {"State": "RUNNING"}}})
        stub.add_response("stop_query_execution", {}, {"QueryExecutionId": "q5"})
        with pytest.raises(SqlError, match="q5 did not finish within 0 s"):
            engine.finished(STUB_CLIENT, "select 1", limit_seconds=0)  # query_timeout_seconds stays 300
        stub.assert_no_pending_responses()
