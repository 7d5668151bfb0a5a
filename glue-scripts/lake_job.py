"""Shared plumbing for the Spark scripts in this folder.

The scripts run unchanged on AWS Glue (this module ships with them through ``--extra-py-files``)
and on local Spark (the local runner puts this folder on ``PYTHONPATH``). It depends only on
PySpark and ``dagster-pipes``, present in both places, and uses only APIs that exist in Spark 3.5
(the Glue 5 runtime) as well as in Spark 4.
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from dagster_pipes import (
    PipesCliArgsParamsLoader,
    PipesEnvVarParamsLoader,
    PipesS3ContextLoader,
    PipesS3MessageWriter,
    open_dagster_pipes,
)
from lake_checks import (
    CheckPlan,
    Outcome,
    RowCheck,
    daily_table_outcomes,
    parse_outcomes,
    row_check_outcomes,
    schema_outcome,
)
from pyspark.errors import AnalysisException
from pyspark.sql import Column, DataFrame, Observation, SparkSession
from pyspark.sql import functions as F

log = logging.getLogger("lake_job")

# Types a registry may declare for a raw CSV column, and the Spark SQL type each parses into.
SPARK_TYPES = {"string": "STRING", "bigint": "BIGINT", "double": "DOUBLE", "boolean": "BOOLEAN", "date": "DATE"}


class LakeJobError(Exception):
    """A problem with the input or the arguments: reported as one clear line, no JVM stack."""


class MissingColumnsError(LakeJobError):
    def __init__(self, message: str, missing: list[str], unexpected: list[str]):
        super().__init__(message)
        self.missing, self.unexpected = missing, unexpected


def normalize_column_name(name: str) -> str:
    """``' Mailing list adds '`` -> ``mailing_list_adds``: trim, lower case, white space runs to ``_``."""
    return re.sub(r"\s+", "_", name.strip().lower())


@dataclass(frozen=True)
class ExpectedColumn:
    name: str
    type: str


def parse_columns_arg(text: str) -> list[ExpectedColumn]:
    """The registry's columns arrive as one job argument: a JSON list of ``[name, type]`` pairs."""
    try:
        columns = [ExpectedColumn(str(name), str(type_)) for name, type_ in json.loads(text)]
    except (ValueError, TypeError) as error:
        raise LakeJobError(f"--columns must be a JSON list of [name, type] pairs: {error}") from None
    unknown = sorted({c.type for c in columns} - SPARK_TYPES.keys())
    if unknown:
        raise LakeJobError(f"--columns uses unknown types {unknown}; known: {sorted(SPARK_TYPES)}")
    return columns


def parse_job_args(argv: Sequence[str], required: Sequence[str], optional: Mapping[str, str] | None = None) -> dict[str, str]:
    """Read ``--name value`` pairs the way Glue passes job arguments.

    Glue adds arguments of its own (``--JOB_ID``, ``--TempDir``, the Pipes bootstrap...), so unknown
    ones are ignored. ``awsglue.utils.getResolvedOptions`` does this on Glue but does not exist on
    local Spark, hence this small equivalent.
    """
    parser = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    for name in required:
        parser.add_argument(f"--{name}")
    for name, default in (optional or {}).items():
        parser.add_argument(f"--{name}", default=default)
    known, _ = parser.parse_known_args(list(argv))
    values = vars(known)
    missing = [f"--{name}" for name in required if values.get(name) is None]
    if missing:
        raise LakeJobError(f"missing job arguments: {', '.join(missing)}")
    return values


def spark_session(app_name: str) -> SparkSession:
    """The session Glue, or the local runner (PYSPARK_SUBMIT_ARGS / SPARK_REMOTE), provides.

    Parsing settings are pinned so results match on Spark 3.5 and 4: strict date patterns
    (``2/30/2016`` is invalid, not March 1st) and UTC.
    """
    spark = SparkSession.builder.appName(app_name).getOrCreate()
    # Typing a wide file builds many aliased parse expressions; Spark's constraint propagation
    # then grows exponentially with them (SPARK-19846: minutes and a heap OOM for 19 columns).
    spark.conf.set("spark.sql.constraintPropagation.enabled", "false")
    spark.conf.set("spark.sql.legacy.timeParserPolicy", "CORRECTED")
    spark.conf.set("spark.sql.session.timeZone", "UTC")
    return spark


def read_landing_csv(spark: SparkSession, path: str) -> DataFrame:
    """Every column as a string, named from the header: no schema inference pass over the data."""
    return spark.read.csv(path, header=True, inferSchema=False, escape='"')


def match_columns(actual: Sequence[str], expected: Sequence[ExpectedColumn], source: str) -> dict[str, str]:
    """Map each expected column to the file's header name, compared after trim and case fold."""
    by_normal: dict[str, str] = {}
    for name in actual:
        key = normalize_column_name(name)
        if key in by_normal:
            raise LakeJobError(f"{source}: the header names column {name.strip()!r} twice")
        by_normal[key] = name
    missing = [c.name for c in expected if normalize_column_name(c.name) not in by_normal]
    if missing:
        wanted = {normalize_column_name(c.name) for c in expected}
        unexpected = [name.strip() for name in actual if normalize_column_name(name) not in wanted]
        found = [a.strip() for a in actual]
        raise MissingColumnsError(
            f"{source}: the header lacks expected columns {missing}; it has {found}", missing, unexpected
        )
    return {c.name: by_normal[normalize_column_name(c.name)] for c in expected}


def _quoted(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def parse_value(raw_name: str, type_: str, date_format: str) -> Column:
    """Parse one raw string column; NULL where it is empty or does not parse.

    ``try_cast`` / ``try_to_timestamp`` return NULL whatever ``spark.sql.ansi.enabled`` says (it is
    on by default in Spark 4, off in 3.5), so bad values are counted instead of failing the job.
    """
    text = F.trim(F.col(_quoted(raw_name)))
    if type_ == "string":
        return F.when(text != "", F.col(_quoted(raw_name)))
    if type_ == "date":
        return F.to_date(F.try_to_timestamp(text, F.lit(date_format)))
    if type_ == "boolean":
        upper = F.upper(text)
        return F.when(upper == "TRUE", F.lit(True)).when(upper == "FALSE", F.lit(False))
    return F.expr(f"try_cast(trim({_quoted(raw_name)}) AS {SPARK_TYPES[type_]})")


@dataclass
class TypedInput:
    """A landing file with the registry's types applied, what parsing rejected, and pass statistics."""

    frame: DataFrame
    rejected: DataFrame
    unexpected_columns: list[str]
    typed_columns: list[str]
    rules: list[RowCheck]
    stats: Observation

    def counts(self) -> dict[str, int]:
        """Available once an action over ``frame`` has run: the counts ride along with that pass."""
        got = self.stats.get
        return {"input_rows": int(got.get("input_rows") or 0), "rejected_rows": int(got.get("rejected_rows") or 0)}

    def per_column(self, kind: str) -> dict[str, int]:
        return {name: int(self.stats.get.get(f"{kind}_{i}") or 0) for i, name in enumerate(self.typed_columns)}

    def rule_failures(self) -> dict[str, int]:
        return {rule.name: int(self.stats.get.get(f"rule_{i}") or 0) for i, rule in enumerate(self.rules)}


def apply_types(
    raw: DataFrame,
    expected: Sequence[ExpectedColumn],
    date_format: str,
    required: Sequence[str],
    source: str,
    rules: Sequence[RowCheck] = (),
) -> TypedInput:
    """Typed columns named as the registry declares them; extra columns kept as strings.

    A row is rejected when a non-empty value does not parse (``abc`` as an amount, ``2/30/2016`` as
    a date) or a ``required`` column is empty. Counts (rows, rejects, unparsed values per column,
    rows breaking each input ``rules`` check) are observed during the pass that writes the output.
    """
    names = match_columns(raw.columns, expected, source)
    typed = {c.name: parse_value(names[c.name], c.type, date_format) for c in expected}

    def empty(name: str) -> Column:
        return F.coalesce(F.trim(F.col(_quoted(names[name]))), F.lit("")) == ""

    unparsed = {c.name: ~empty(c.name) & typed[c.name].isNull() for c in expected if c.type != "string"}
    problems = [*unparsed.values(), *[empty(name) for name in required]]
    is_rejected = F.greatest(*[p.cast("int") for p in problems], F.lit(0)) if problems else F.lit(0)
    unexpected = [name for name in raw.columns if name not in names.values()]
    extras = [F.col(_quoted(name)).alias(name.strip()) for name in unexpected]
    flagged = raw.select(
        *[value.alias(name) for name, value in typed.items()],
        *extras,
        is_rejected.alias("_rejected"),
        *[u.cast("int").alias(f"_unparsed_{i}") for i, u in enumerate(unparsed.values())],
        *[(~empty(name)).cast("int").alias(f"_nonempty_{i}") for i, name in enumerate(unparsed)],
    )
    stats = Observation("parse")
    observed = flagged.observe(
        stats,
        F.count(F.lit(1)).alias("input_rows"),
        F.sum("_rejected").alias("rejected_rows"),
        *[F.sum(f"_unparsed_{i}").alias(f"unparsed_{i}") for i in range(len(unparsed))],
        *[F.sum(f"_nonempty_{i}").alias(f"nonempty_{i}") for i in range(len(unparsed))],
        *[F.count(F.when((F.col("_rejected") == 0) & rule.failing(), 1)).alias(f"rule_{i}") for i, rule in enumerate(rules)],
    )
    helper_columns = [c for c in flagged.columns if c.startswith("_")]
    return TypedInput(
        frame=observed.where(F.col("_rejected") == 0).drop(*helper_columns),
        rejected=raw.where(is_rejected == 1),
        unexpected_columns=[name.strip() for name in unexpected],
        typed_columns=list(unparsed),
        rules=list(rules),
        stats=stats,
    )


def process_landing_file(
    reporter: Reporter, argv: Sequence[str], transform: Callable[[DataFrame], DataFrame]
) -> None:
    """The whole life of a processing job: read the landing CSV, type it, transform, write, check, report.

    Job arguments: ``--input_path`` (the landing object), ``--output_path`` (the table location),
    ``--columns`` (the registry's expected columns and types), ``--date_format``, ``--date_column``,
    ``--checks`` (what to check, JSON; see ``lake_checks.CheckPlan``).
    """
    args = parse_job_args(
        argv,
        required=["input_path", "output_path", "columns"],
        optional={"date_format": "M/d/yyyy", "date_column": "Date", "checks": ""},
    )
    source, output_path = args["input_path"], args["output_path"]
    plan = CheckPlan.parse(args["checks"])
    spark = spark_session(transform.__name__)
    reporter.info(f"reading {source} with Spark {spark.version}")
    try:
        typed = apply_types(
            read_landing_csv(spark, source),
            parse_columns_arg(args["columns"]),
            date_format=args["date_format"],
            required=[args["date_column"]],
            source=source,
            rules=plan.rows_on("input"),
        )
    except MissingColumnsError as error:
        reporter.check(schema_outcome(error.missing, error.unexpected, {}, {}))
        raise
    output = transform(typed.frame)
    rows = write_parquet(output, output_path)
    counts = typed.counts()
    reporter.info(f"read {counts['input_rows']} rows, rejected {counts['rejected_rows']}; checking {output_path}")
    outcomes = [
        schema_outcome([], typed.unexpected_columns, typed.per_column("unparsed"), typed.per_column("nonempty")),
        parse_outcomes(counts["input_rows"], counts["rejected_rows"], typed.rejected, plan.max_reject_share),
        *row_check_outcomes(typed.frame, typed.rules, typed.rule_failures()),
        *daily_table_outcomes(spark.read.parquet(output_path), plan),
    ]
    if counts["rejected_rows"]:
        reporter.warning(f"{source}: rejected {counts['rejected_rows']} of {counts['input_rows']} rows whose values do not parse")
    reporter.table_written(output, output_path, rows, **counts)
    for outcome in outcomes:
        reporter.check(outcome)


def write_parquet(frame: DataFrame, path: str) -> int:
    """Snappy Parquet replacing the previous output; returns the rows written (observed, one pass)."""
    written = Observation("written")
    frame.observe(written, F.count(F.lit(1)).alias("rows")).write.mode("overwrite").option(
        "compression", "snappy"
    ).parquet(path)
    return int(written.get.get("rows") or 0)


def schema_metadata(frame: DataFrame) -> dict[str, Any]:
    """``dagster/column_schema`` in the external form Pipes understands."""
    columns = [
        {"name": f.name, "type": f.dataType.simpleString(), "constraints": {"nullable": f.nullable}}
        for f in frame.schema.fields
    ]
    return {"raw_value": {"columns": columns}, "type": "table_schema"}


class Reporter:
    """Logs to the Dagster run through Pipes when launched by Dagster, and to stderr always."""

    def __init__(self, pipes: Any):
        self._pipes = pipes

    def info(self, message: str) -> None:
        log.info(message)
        self._pipes.log.info(message)

    def warning(self, message: str) -> None:
        log.warning(message)
        self._pipes.log.warning(message)

    def table_written(self, frame: DataFrame, path: str, rows: int, **extra: Any) -> None:
        metadata: dict[str, Any] = {
            "dagster/row_count": {"raw_value": rows, "type": "int"},
            "dagster/column_schema": schema_metadata(frame),
            "output_path": {"raw_value": path, "type": "path"},
        }
        for key, value in extra.items():
            is_typed = isinstance(value, dict) and set(value) == {"raw_value", "type"}
            metadata[key] = value if is_typed else {"raw_value": value, "type": "__infer__"}
        self.info(f"wrote {rows} rows to {path}")
        self._pipes.report_asset_materialization(metadata=metadata)

    def check(self, outcome: Outcome) -> None:
        level = self.info if outcome.passed else self.warning
        level(f"check {outcome.name}: {'passed' if outcome.passed else 'FAILED'} {json.dumps(outcome.metadata, default=str)[:500]}")
        self._pipes.report_asset_check(
            check_name=outcome.name,
            passed=outcome.passed,
            severity=outcome.severity,
            metadata={key: {"raw_value": value, "type": "__infer__"} for key, value in outcome.metadata.items()},
        )

    def error(self, message: str, retryable: bool) -> None:
        log.error(message)
        # The orchestrator side reads this to fail the step with the script's own words, and
        # retries only what may be transient.
        self._pipes.report_custom_message({"error": message, "retryable": retryable})


def _first_line(error: BaseException) -> str:
    return (str(error).strip().splitlines() or [""])[0]


def on_glue() -> bool:
    """Dagster passes the Pipes bootstrap as job arguments to Glue, as environment variables locally."""
    return PipesCliArgsParamsLoader().is_dagster_pipes_process()


@contextmanager
def _pipes() -> Iterator[Any]:
    if on_glue():
        # Context and messages travel through S3 (the orchestrator's PipesS3ContextInjector and
        # PipesS3MessageReader); boto3 is part of the Glue runtime.
        import boto3

        s3 = boto3.client("s3")
        opened = open_dagster_pipes(
            params_loader=PipesCliArgsParamsLoader(),
            context_loader=PipesS3ContextLoader(client=s3),
            message_writer=PipesS3MessageWriter(client=s3),
        )
    else:
        # Locally; outside Dagster open_dagster_pipes returns a no-op stand-in.
        opened = open_dagster_pipes(params_loader=PipesEnvVarParamsLoader())
    with opened as pipes:
        yield pipes


def run_job(body: Callable[[Reporter, Sequence[str]], None], argv: Sequence[str] | None = None) -> None:
    """Entry point of every script: Pipes session, logging, and one-line errors.

    Locally a data error ends the process with status 1 and no stack (the runner shows the
    message); on Glue it is raised, so the job run's ErrorMessage carries it.
    """
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    args = list(sys.argv[1:] if argv is None else argv)
    with _pipes() as pipes:
        reporter = Reporter(pipes)
        try:
            body(reporter, args)
        except (LakeJobError, AnalysisException) as error:
            # Bad input or a refused read: retrying cannot help.
            prefix = "" if isinstance(error, LakeJobError) else f"{type(error).__name__}: "
            reporter.error(prefix + _first_line(error), retryable=False)
            if on_glue():
                raise
            raise SystemExit(1) from None
        except Exception as error:
            reporter.error(f"{type(error).__name__}: {_first_line(error)}", retryable=True)
            raise
