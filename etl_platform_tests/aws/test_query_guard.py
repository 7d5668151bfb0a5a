"""etl-platform query on the AWS profile (a moto account): the guard reads the SQL as Athena
(Trino) reads it, so a write that DuckDB's reading would hide in a comment never reaches
StartQueryExecution, and what does reach Athena runs in the read-only workgroup as the query role."""

from __future__ import annotations

import boto3
import pytest

from etl_platform import cli
from etl_platform.environment import initialized_resources
from etl_platform_tests.aws.conftest import DATABASE, QUERY_WORKGROUP, REGION, WORKGROUP
from etl_platform_tests.aws.fake_athena import FakeAthenaEngine
from etl_platform_tests.test_sql_guard import NESTED_COMMENT_BYPASS

REFUSED = (
    'etl-platform: error: query is read-only: refusing the DELETE statement "DELETE FROM sales_daily"; '
    "pass --allow-writes to run it\n"
)


def _executions() -> list[dict]:
    athena = boto3.client("athena", region_name=REGION)
    return [
        athena.get_query_execution(QueryExecutionId=query_id)["QueryExecution"]
        for query_id in athena.list_query_executions()["QueryExecutionIds"]
    ]


def test_the_cli_refuses_a_delete_behind_a_nested_comment_before_athena(aws, monkeypatch, capsys) -> None:
    monkeypatch.setenv("ETL_PLATFORM_ENV", "aws")
    assert cli.main(["query", NESTED_COMMENT_BYPASS]) == 1
    assert capsys.readouterr().err == REFUSED
    assert _executions() == []  # no StartQueryExecution at all
    assert cli.main(["query", "select 1 as one"]) == 0
    ((query, workgroup),) = [(e["Query"], e["WorkGroup"]) for e in _executions()]
    assert (query, workgroup) == ("select 1 as one", QUERY_WORKGROUP)


@pytest.mark.usefixtures("aws")
def test_the_athena_engine_never_gets_the_bypass_to_run(monkeypatch) -> None:
    """The fake Athena runs SQL on DuckDB, which would read the bypass as SELECT 1: only the guard,
    reading it as Trino does, stands between it and the engine."""
    monkeypatch.setenv("ETL_PLATFORM_ENV", "aws")
    engine = FakeAthenaEngine(
        region_name=REGION, database=DATABASE, workgroup=WORKGROUP, output_location="s3://etl-scratch/athena-results/"
    )
    with initialized_resources() as resources, pytest.raises(cli.CliError, match="refusing the DELETE statement"):
        cli.run_query(engine, resources["catalog"], NESTED_COMMENT_BYPASS)
    assert _executions() == []
