"""The whole life of a SQL processing job, as ``lake_builds.process_landing_file`` lives a Spark
one: vet the landing file, type it, run the dataset's SQL text over ``typed_input``, write, check,
and return what a script would report (``ScriptResult``: the build and every check, or the failure
with the checks reported before it)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from etl_platform.contract.errors import ContractError, InputError
from etl_platform.contract.jobs import ProcessJob
from etl_platform.contract.landing import (
    CORRUPT_RECORD,
    MissingColumnsError,
    read_head,
    read_header,
    record_sources,
)
from etl_platform.contract.outcomes import parse_outcomes, schema_outcome
from etl_platform.contract.report import BuildReport, CheckOutcome, Column, FailureKind, ScriptFailure, ScriptResult
from etl_platform.sql_jobs.checks import EXAMPLE_ROWS, daily_table_outcomes, row_check_outcomes
from etl_platform.sql_jobs.dialect import BROKEN, ROW, raw_column
from etl_platform.sql_jobs.runner import QueryFailed, SqlRunner, spark_type_name
from etl_platform.sql_jobs.typed import FLAGGED, MALFORMED, REASON, TYPED_INPUT, TypedQuery

# The relation over the written table, while it is checked.
WRITTEN = "written_output"


class Log(Protocol):
    def info(self, msg: str) -> Any: ...

    def warning(self, msg: str) -> Any: ...


def _first_line(error: BaseException) -> str:
    return (str(error).strip().splitlines() or [""])[0]


def process_landing_file(runner: SqlRunner, job: ProcessJob, sql: str, log: Log) -> ScriptResult:
    """``sql`` (a SELECT over ``typed_input``) over the landing file ``job.input_path``, written
    into ``job.output_path``. An input the contract refuses, or a query failing on it, is a failure
    record, as a script reports it; anything else is raised."""
    checks: list[CheckOutcome] = []
    try:
        build = _process(runner, job, sql, checks, log)
    except InputError as error:
        return ScriptResult(tuple(checks), failure=ScriptFailure(_first_line(error), FailureKind.DATA, error.line))
    except ContractError as error:
        return ScriptResult(tuple(checks), failure=ScriptFailure(_first_line(error), FailureKind.DATA))
    except QueryFailed as error:
        return ScriptResult(tuple(checks), failure=error.failure)
    return ScriptResult(tuple(checks), build=build)


def _process(runner: SqlRunner, job: ProcessJob, sql: str, checks: list[CheckOutcome], log: Log) -> BuildReport:
    source = job.input_path
    header = read_header(read_head(source), source)  # an empty, mis-encoded file fails before any query
    try:
        typed = TypedQuery.of(runner.dialect, job, header)
    except MissingColumnsError as error:
        checks.append(schema_outcome(error.missing, error.unexpected, {}, {}))
        raise
    raw = runner.raw_input(job, len(header))

    def rows(query: str) -> list[dict[str, Any]]:
        return runner.rows(typed.over(raw, query))

    output = typed.over(raw, f"SELECT * FROM (\n{sql}\n) AS __result")
    columns = runner.columns(output)
    runner.execute(runner.dialect.write_parquet(output, job.output_path))
    (counted,) = rows(typed.counts())
    counts = {name: int(value or 0) for name, value in counted.items()}
    _refuse_unreadable(rows, typed, counts, job)
    unexpected = [name for _, name in typed.unexpected]
    if unexpected:
        log.info(f"{source}: columns not in the registry are kept as strings: {unexpected}")
    log.info(f"read {counts['input_rows']} rows, rejected {counts['rejected_rows']}; checking {job.output_path}")
    rejected = first_rejected(rows, typed, job) if counts["rejected_rows"] else []
    per_column = {
        kind: {c.name: counts[f"{kind}_{i}"] for i, c in enumerate(typed.typed_columns)}
        for kind in ("unparsed", "nonempty")
    }
    checks += [
        schema_outcome([], unexpected, per_column["unparsed"], per_column["nonempty"]),
        parse_outcomes(counts["input_rows"], counts["rejected_rows"], rejected, job.checks.max_reject_share),
        *row_check_outcomes(
            rows, TYPED_INPUT, typed.rules, {r.name: counts[f"rule_{i}"] for i, r in enumerate(typed.rules)}
        ),
    ]
    written = runner.written(WRITTEN, job.output_path, columns)
    written_rows, table_outcomes = daily_table_outcomes(runner.rows, written, job.checks)
    checks += table_outcomes
    if rejected:
        log.warning(_rejects_line(source, counts, rejected))
    log.info(f"wrote {written_rows} rows to {job.output_path}")
    return BuildReport(
        output_path=job.output_path,
        rows=written_rows,
        columns=tuple(Column(name, spark_type_name(type_)) for name, type_ in columns),
        input_rows=counts["input_rows"],
        rejected_rows=counts["rejected_rows"],
    )


def _fields(typed: TypedQuery) -> list[str]:
    return [raw_column(i) for i in range(1, len(typed.header) + 1)]


def _refuse_unreadable(rows: Any, typed: TypedQuery, counts: Mapping[str, int], job: ProcessJob) -> None:
    """A file with no data rows, or with values broken across lines that only a multiline read
    keeps whole, is refused in one line."""
    source = job.input_path
    if counts["input_rows"] == 0:
        raise InputError(f"{source}: the file has a header but no data rows")
    if counts["broken_records"] and not job.multiline:
        fields = ", ".join(f'"{name}"' for name in _fields(typed))
        (first,) = rows(f"SELECT {fields} FROM {FLAGGED} WHERE {BROKEN} ORDER BY {ROW} LIMIT 1")
        (found,) = record_sources(source, [([first[name] for name in _fields(typed)], True)], len(typed.header))
        raise InputError(
            f"{source}: {counts['broken_records']} record(s) continue on a new line inside a quoted value "
            f"(e.g. {found.text if found else ''!r}); read such files with multiline=True on the dataset"
        )


def first_rejected(rows: Any, typed: TypedQuery, job: ProcessJob) -> list[dict[str, Any]]:
    """The first rejected rows of the file, as ``lake_builds.first_rejected`` lists them: the line
    each starts on (``_line``, ``None`` if not found), why (``_reason``), its fields as Spark reads
    them (an empty one NULL) and, when its field count is wrong, the record's text."""
    found = rows(typed.rejected_examples(EXAMPLE_ROWS))
    records = [([row[name] for name in _fields(typed)], bool(row[MALFORMED])) for row in found]
    sources = record_sources(job.input_path, records, len(typed.header), job.multiline)
    return [
        {
            "_line": source.line if source else None,
            "_reason": row[REASON],
            **{name: row[raw] or None for name, raw in zip(typed.header, _fields(typed))},
            CORRUPT_RECORD: source.text if source and malformed else None,
        }
        for row, (_, malformed), source in zip(found, records, sources)
    ]


def _rejects_line(source: str, counts: Mapping[str, int], rejected: Sequence[dict]) -> str:
    where = ", ".join(f"line {example['_line'] or '?'} ({example['_reason']})" for example in rejected)
    more = ", ..." if counts["rejected_rows"] > len(rejected) else ""
    return f"{source}: rejected {counts['rejected_rows']} of {counts['input_rows']} rows: {where}{more}"
