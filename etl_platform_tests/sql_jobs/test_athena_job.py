"""The SQL engine's Athena path: what it leaves behind, what it bills, how its failures end."""

from __future__ import annotations

import boto3

from etl_platform.contract.report import FailureKind
from etl_platform.datasets import SALES
from etl_platform_tests.glue_scripts.test_bad_inputs import _csv
from etl_platform_tests.sql_jobs.conftest import FAKES, REGION, run_athena

THROTTLED = {
    "StateChangeReason": "ThrottlingException: Rate exceeded",
    "AthenaError": {"ErrorCategory": 1, "ErrorType": 1000, "Retryable": True},
}


def _leftovers(fake) -> tuple[list[str], list[str]]:
    """The temporary tables still defined, and the input copies still in the results bucket."""
    tables = [row[0] for row in fake.db.execute("SELECT table_name FROM information_schema.tables").fetchall()]
    listed = boto3.client("s3", region_name=REGION).list_objects_v2(Bucket="results", Prefix="athena/inputs/")
    return tables, [item["Key"] for item in listed.get("Contents", [])]


def test_temporary_tables_and_the_input_copy_are_gone_after_success_and_failure(athena) -> None:
    fake = FAKES[-1]
    done = run_athena(athena, SALES, _csv(), name="good")
    assert done.failure is None and len(done.rows or []) == 2
    assert _leftovers(fake) == ([], [])
    fake.fail_next.append(("UNLOAD", THROTTLED))
    failed = run_athena(athena, SALES, _csv(), name="throttled")
    assert failed.failure is not None
    assert _leftovers(fake) == ([], [])
    created = [e.query for e in fake.executions.values() if e.query.startswith("CREATE EXTERNAL TABLE")]
    assert len(created) == 3 and all("s3://results/athena/inputs/" in q or "PARQUET" in q for q in created)


def test_bytes_scanned_by_every_query_but_ddl_are_the_usage(athena) -> None:
    fake = FAKES[-1]
    done = run_athena(athena, SALES, _csv(), name="good")
    assert done.usage is not None and done.usage.engine == "athena"
    billed = [e.scanned for e in fake.executions.values() if not e.query.startswith(("CREATE", "DROP"))]
    assert done.usage.usage == {"queries": len(billed), "bytes_scanned": sum(billed)}
    assert sum(billed) > 0 and done.usage.estimated_cost_usd > 0


def test_throttling_is_retryable_and_a_sql_error_in_the_text_is_the_data(athena, monkeypatch) -> None:
    FAKES[-1].fail_next.append(("UNLOAD", THROTTLED))
    throttled = run_athena(athena, SALES, _csv(), name="throttled")
    assert throttled.result is not None and throttled.result.failure is not None
    assert throttled.result.failure.kind is FailureKind.RETRYABLE
    assert "ThrottlingException" in throttled.result.failure.message
    FAKES[-1].fail_next.clear()
    monkeypatch.setattr("etl_platform_tests.sql_jobs.conftest.sql_text", lambda dataset: "SELECT nope FROM typed_input")
    wrong = run_athena(athena, SALES, _csv(), name="wrong")
    assert wrong.result is not None and wrong.result.failure is not None
    assert wrong.result.failure.kind is FailureKind.DATA and "nope" in wrong.result.failure.message
