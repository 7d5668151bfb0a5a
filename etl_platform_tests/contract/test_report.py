"""The records a script reports, decoded by the orchestrator into one typed result."""

import pytest

from etl_platform.contract.errors import ContractError
from etl_platform.contract.report import (
    BuildReport,
    CheckOutcome,
    Column,
    ColumnSource,
    FailureKind,
    ScriptFailure,
    ScriptResult,
    from_json,
)

JOIN_BUILD = BuildReport(
    output_path="s3://lake/joined/t/data/b1",
    rows=1458,
    columns=(Column("date", "date", False), Column("visits", "bigint")),
    inputs={"sales_daily": ("s3://lake/a.parquet",), "marketing_daily": ("s3://lake/b.parquet",)},
    lineage={"date": (ColumnSource("sales_daily", "date"), ColumnSource("marketing_daily", "date"))},
)


@pytest.mark.parametrize(
    "record",
    [
        CheckOutcome("parse_rejects", False, False, {"rejected_rows": 3, "examples": [{"_line": 7, "Date": None}]}),
        BuildReport("/lake/processed/t/data/b1", 42, (Column("date", "date"),), input_rows=45, rejected_rows=3),
        JOIN_BUILD,
        ScriptFailure("AnalysisException: [PATH_NOT_FOUND] Path does not exist: /lake/x", FailureKind.RETRYABLE),
        ScriptFailure("in.csv: line 2, byte 12: byte 0xEB is not UTF-8", FailureKind.DATA, line=2),
    ],
    ids=["check", "processed_build", "joined_build", "failure", "failure_at_a_line"],
)
def test_each_record_reads_back_as_sent(record) -> None:
    assert from_json(record.to_json()) == record


def test_a_runs_messages_make_one_result_with_its_checks_in_order() -> None:
    first, second = CheckOutcome("raw_schema", True), CheckOutcome("date_gaps", False, blocking=False)
    failure = ScriptFailure("a.csv: the file is empty (0 bytes)", FailureKind.DATA)
    result = ScriptResult.from_messages([first.to_json(), JOIN_BUILD.to_json(), second.to_json()])
    assert result == ScriptResult(checks=(first, second), build=JOIN_BUILD)
    assert ScriptResult.from_messages([failure.to_json()]).failure.retryable is False


@pytest.mark.parametrize(
    ("messages", "message"),
    [
        (['{"record": "verdict"}'], "unknown record 'verdict'"),
        (['{"record": "check"}'], "malformed record"),
        (["not json"], "malformed record"),
        ([JOIN_BUILD.to_json(), JOIN_BUILD.to_json()], "2 builds and 0 failures; one at most"),
    ],
)
def test_messages_that_break_the_contract_are_refused(messages, message) -> None:
    with pytest.raises(ContractError, match=message):
        ScriptResult.from_messages(messages)
