"""The life of each kind of build, from job arguments to the records reported: a landing file
processed into a daily table, and the daily tables joined. The entry scripts bring the transform."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from lake_checks import DailyAudit, examples, join_coverage_outcome, row_check_outcomes
from lake_csv import read_landing_csv
from lake_job import LakeJobError, Reporter, spark_session
from lake_types import TypedInput, apply_native_types, apply_types, native_types
from lake_write import table_columns, write_parquet
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from etl_platform.contract.jobs import JoinJob, ProcessJob
from etl_platform.contract.landing import CORRUPT_RECORD, MissingColumnsError, read_head, read_header, record_lines
from etl_platform.contract.outcomes import parse_outcomes, schema_outcome
from etl_platform.contract.report import BuildReport, ColumnSource

Transform = Callable[[DataFrame], DataFrame]


def first_rejected(typed: TypedInput, source: str, multiline: bool = False) -> list[dict]:
    """The first rejected rows of the file, each with the line it starts on (``_line``, ``None`` if
    not found), why it was rejected (``_reason``) and its fields as read."""
    rows = examples(typed.rejected)
    records = [([row[name] for name in typed.raw_columns], row.get(CORRUPT_RECORD) is not None) for row in rows]
    lines = record_lines(source, records, len(typed.raw_columns), multiline)
    return [{"_line": line, **row} for row, line in zip(rows, lines)]


def _typed(
    reporter: Reporter, spark: SparkSession, job: ProcessJob, header: Sequence[str], natively: bool
) -> TypedInput:
    """The landing file typed by the registry's columns, by the CSV reader itself (``natively``) or
    value by value; missing columns fail ``raw_schema`` first."""
    try:
        if natively:
            return apply_native_types(
                read_landing_csv(
                    spark,
                    job.input_path,
                    job.multiline,
                    header,
                    native_types(header, job.columns, job.input_path),
                    job.date_format,
                ),
                job.columns,
                required=[job.date_column],
                source=job.input_path,
                rules=job.checks.rows_on("input"),
            )
        return apply_types(
            read_landing_csv(spark, job.input_path, job.multiline, header),
            job.columns,
            date_format=job.date_format,
            required=[job.date_column],
            source=job.input_path,
            rules=job.checks.rows_on("input"),
        )
    except MissingColumnsError as error:
        reporter.check(schema_outcome(error.missing, error.unexpected, {}, {}))
        raise


def _written(
    reporter: Reporter, spark: SparkSession, job: ProcessJob, header: Sequence[str], transform: Transform
) -> tuple[TypedInput, DataFrame, DailyAudit]:
    """The table written, its input's figures and its checks observed in the same pass.

    The CSV reader types the file first; where it finds a row it cannot judge as the value-by-value
    typing would, the file is read and written again that way, whose reasons and counts are the
    reference (the build's folder is its own, so nothing else sees the first write)."""
    for natively in (True, False):
        typed = _typed(reporter, spark, job, header, natively)
        output = transform(typed.frame)
        audit = DailyAudit(job.checks)
        write_parquet(audit.observe(output), job.output_path)
        if not typed.suspect_rows():
            break
        reporter.info(
            f"{job.input_path}: {typed.suspect_rows()} row(s) not plainly typed (padded, blank, malformed or "
            "misplaced values); reading it again value by value"
        )
    return typed, output, audit


def _refuse_unreadable(typed: TypedInput, counts: Mapping[str, int], job: ProcessJob) -> None:
    """A file with no data rows, or with values broken across lines that only a multiline read
    keeps whole, is refused in one line."""
    source = job.input_path
    if counts["input_rows"] == 0:
        raise LakeJobError(f"{source}: the file has a header but no data rows")
    if counts["broken_records"] and not job.multiline:
        (example,) = typed.rejected.where(F.col("_reason").contains("fields like the header")).select(
            CORRUPT_RECORD
        ).limit(1).first() or ("",)
        raise LakeJobError(
            f"{source}: {counts['broken_records']} record(s) continue on a new line inside a quoted value (e.g. {example!r}); "
            "read such files with multiline=True on the dataset"
        )


def _rejects_line(source: str, counts: Mapping[str, int], rejected: Sequence[dict]) -> str:
    where = ", ".join(f"line {example['_line'] or '?'} ({example['_reason']})" for example in rejected)
    more = ", ..." if counts["rejected_rows"] > len(rejected) else ""
    return f"{source}: rejected {counts['rejected_rows']} of {counts['input_rows']} rows: {where}{more}"


def process_landing_file(reporter: Reporter, argv: Sequence[str], transform: Transform) -> None:
    """The whole life of a processing job (``ProcessJob`` arguments): read the landing CSV, type
    it, transform, write, check, report."""
    job = ProcessJob.parse(argv)
    source = job.input_path
    # Vetted before Spark starts: an empty, mis-encoded or missing file fails without a JVM.
    header = read_header(read_head(source), source)
    spark = spark_session(transform.__name__)
    reporter.info(f"reading {source} with Spark {spark.version}")
    typed, output, audit = _written(reporter, spark, job, header, transform)
    counts = typed.counts()
    _refuse_unreadable(typed, counts, job)
    rows, daily_outcomes = audit.outcomes(lambda: spark.read.parquet(job.output_path))
    if typed.unexpected_columns:
        reporter.info(f"{source}: columns not in the registry are kept as strings: {typed.unexpected_columns}")
    reporter.info(f"read {counts['input_rows']} rows, rejected {counts['rejected_rows']}; checking {job.output_path}")
    rejected = first_rejected(typed, source, job.multiline) if counts["rejected_rows"] else []
    outcomes = [
        schema_outcome([], typed.unexpected_columns, typed.per_column("unparsed"), typed.per_column("nonempty")),
        parse_outcomes(counts["input_rows"], counts["rejected_rows"], rejected, job.checks.max_reject_share),
        *row_check_outcomes(lambda: typed.frame, typed.rules, typed.rule_failures()),
        *daily_outcomes,
    ]
    if rejected:
        reporter.warning(_rejects_line(source, counts, rejected))
    reporter.built(
        BuildReport(
            output_path=job.output_path,
            rows=rows,
            columns=table_columns(output),
            input_rows=counts["input_rows"],
            rejected_rows=counts["rejected_rows"],
        )
    )
    for outcome in outcomes:
        reporter.check(outcome)


Join = Callable[[Mapping[str, DataFrame]], DataFrame]
Lineage = Callable[[Mapping[str, DataFrame]], Mapping[str, tuple[ColumnSource, ...]]]


def join_tables(reporter: Reporter, argv: Sequence[str], join: Join, lineage: Lineage) -> None:
    """The whole life of the join (``JoinJob`` arguments): read each input's snapshot files, join,
    write, check, report."""
    job = JoinJob.parse(argv)
    spark = spark_session(join.__name__)
    reporter.info(f"joining {', '.join(job.inputs)} on date")
    tables = {name: spark.read.parquet(*paths) for name, paths in job.inputs.items()}
    joined = join(tables)
    audit = DailyAudit(job.checks)
    write_parquet(audit.observe(joined), job.output_path)
    written = spark.read.parquet(job.output_path)
    rows, daily_outcomes = audit.outcomes(lambda: written)
    outcomes = [*daily_outcomes, join_coverage_outcome(written, tables, rows)]
    reporter.built(
        BuildReport(
            output_path=job.output_path,
            rows=rows,
            columns=table_columns(joined),
            inputs=job.inputs,
            lineage=lineage(tables),
        )
    )
    for outcome in outcomes:
        reporter.check(outcome)
