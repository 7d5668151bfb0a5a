"""Shared plumbing for the Spark scripts in this folder.

The scripts run unchanged on AWS Glue (this module ships with them through ``--extra-py-files``)
and on local Spark (the local runner puts this folder on ``PYTHONPATH``). It depends only on
PySpark and ``dagster-pipes``, present in both places, and uses only APIs that exist in Spark 3.5
(the Glue 5 runtime) as well as in Spark 4.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import logging
import re
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass
from typing import IO, Any

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
    examples,
    parse_outcomes,
    row_check_outcomes,
    schema_outcome,
)
from pyspark.errors import AnalysisException, PySparkException
from pyspark.sql import Column, DataFrame, Observation, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import StringType, StructField, StructType

log = logging.getLogger("lake_job")

# Rows whose field count does not match the header land here (Spark's PERMISSIVE mode).
CORRUPT_RECORD = "_corrupt_record"
# A row's place in the file while rejected rows are picked as examples (an internal column).
POSITION = "__position"
# Enough of the file to vet its encoding and header without Spark, and without reading it all.
HEAD_BYTES = 64 * 1024
# What a file with one of these at the start is encoded in; Spark would read it as garbage.
WIDE_BOMS = (
    (b"\xff\xfe\x00\x00", "UTF-32"),
    (b"\x00\x00\xfe\xff", "UTF-32"),
    (b"\xff\xfe", "UTF-16"),
    (b"\xfe\xff", "UTF-16"),
)
UTF8_BOM = b"\xef\xbb\xbf"

# Types a registry may declare for a raw CSV column, and the Spark SQL type each parses into.
SPARK_TYPES = {"string": "STRING", "bigint": "BIGINT", "double": "DOUBLE", "boolean": "BOOLEAN", "date": "DATE"}


class LakeJobError(Exception):
    """A problem with the input or the arguments: reported as one clear line, no JVM stack."""


class MissingColumnsError(LakeJobError):
    def __init__(self, message: str, missing: list[str], unexpected: list[str]):
        super().__init__(message)
        self.missing, self.unexpected = missing, unexpected


class LakeStorageError(Exception):
    """Storage or metadata trouble, not the input's fault: a path missing (a landing file removed
    after it was picked, an output folder deleted under the build), throttling, a lost connection.
    Worth a retry, never a quarantine. Raised on Glue in place of the original error, so the job
    run's ErrorMessage names it (the Glue runner retries what it names)."""


# Spark error conditions that mean storage trouble, whatever the input holds: a path or a file
# listed for the read gone, a folder of ours with no Parquet file left in it.
STORAGE_CONDITIONS = frozenset({"PATH_NOT_FOUND", "FAILED_READ_FILE.FILE_NOT_EXIST", "UNABLE_TO_INFER_SCHEMA"})
# The same in the text of errors Spark does not classify: JVM exceptions wrapped by Py4J or
# Spark Connect (their stack traces included), the S3 connectors' and boto3's messages.
STORAGE_TEXT = re.compile(
    r"\[PATH_NOT_FOUND\]|Path does not exist|FILE_NOT_EXIST|File does not exist|FileNotFoundException|\bIOException\b"
    r"|No such file or directory"
    r"|SlowDown|Slow Down|Status Code: 503|Service Unavailable|ServiceUnavailable|Throttling|RequestLimitExceeded"
    r"|Connection reset|Connection refused|Connection closed|ConnectException|ConnectTimeoutException|SocketTimeoutException"
    r"|UnknownHostException|Unable to execute HTTP request|EndpointConnectionError|AmazonS3Exception|SdkClientException|NoSuchKey"
)


def normalize_column_name(name: str) -> str:
    """``' Mailing list adds '`` -> ``mailing_list_adds``: trim, lower case, white space runs to ``_``."""
    return re.sub(r"\s+", "_", name.replace("\ufeff", "").strip().lower())


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


def parse_job_args(
    argv: Sequence[str], required: Sequence[str], optional: Mapping[str, str] | None = None
) -> dict[str, str]:
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
    # Shuffle partitions sized to the data, not a fixed count: adaptive execution coalesces them
    # into ~128 MB ones, so a daily table (a few thousand rows, even from 10M input rows) is one
    # task and one Parquet file, while a large output still gets split.
    spark.conf.set("spark.sql.adaptive.enabled", "true")
    spark.conf.set("spark.sql.adaptive.coalescePartitions.enabled", "true")
    spark.conf.set("spark.sql.adaptive.coalescePartitions.parallelismFirst", "false")
    spark.conf.set("spark.sql.adaptive.advisoryPartitionSizeInBytes", "128m")
    return spark


def open_landing(path: str, **s3_request: Any) -> IO[bytes]:
    """A landing file as a byte stream, read directly rather than through Spark (a local path, or
    an S3 object streamed by boto3, part of the Glue runtime); ``s3_request``: e.g. a ``Range``."""
    if path.startswith("s3://"):
        import boto3

        bucket, key = path[len("s3://") :].split("/", 1)
        return boto3.client("s3").get_object(Bucket=bucket, Key=key, **s3_request)["Body"]
    return open(path.removeprefix("file://"), "rb")


def read_head(path: str, size: int = HEAD_BYTES) -> bytes:
    """The first ``size`` bytes of a landing file."""
    if path.startswith("s3://"):
        from botocore.exceptions import ClientError

        try:
            with closing(open_landing(path, Range=f"bytes=0-{size - 1}")) as body:
                return body.read()
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "InvalidRange":  # an empty object
                return b""
            raise
    with open_landing(path) as handle:
        return handle.read(size)


def _position(data: bytes, offset: int) -> str:
    line = data.count(b"\n", 0, offset) + 1
    column = offset - (data.rfind(b"\n", 0, offset) + 1) + 1
    return f"line {line}, byte {column}"


def read_header(head: bytes, source: str) -> list[str]:
    """The header's column names, after vetting what Spark would read silently wrong: an empty
    file, UTF-16/32, bytes that are not UTF-8, another delimiter. A UTF-8 byte order mark is fine."""
    if not head:
        raise LakeJobError(f"{source}: the file is empty (0 bytes)")
    for bom, encoding in WIDE_BOMS:
        if head.startswith(bom):
            raise LakeJobError(f"{source}: the file is {encoding} encoded; save it as UTF-8")
    text = head.removeprefix(UTF8_BOM)
    try:
        decoded = text.decode("utf-8")
    except UnicodeDecodeError as error:
        if error.reason == "unexpected end of data" and len(head) == HEAD_BYTES:
            decoded = text[: error.start].decode("utf-8")  # a character cut by the end of the head
        else:
            raise LakeJobError(
                f"{source}: {_position(text, error.start)}: byte 0x{text[error.start]:02X} is not UTF-8 "
                "(Latin-1 or Windows-1252?); save the file as UTF-8"
            ) from None
    records = csv.reader(io.StringIO(decoded))
    header = next(records, [])
    if not any(name.strip() for name in header):
        raise LakeJobError(f"{source}: line 1, the header, is empty")
    if len(head) < HEAD_BYTES and not any(any(field.strip() for field in record) for record in records):
        raise LakeJobError(f"{source}: the file has a header but no data rows")
    first_position: dict[str, int] = {}
    for position, name in enumerate(header, start=1):
        earlier = first_position.setdefault(normalize_column_name(name), position)
        if earlier != position:
            raise LakeJobError(f"{source}: line 1: columns {earlier} and {position} are both named {name.strip()!r}")
    if len(header) == 1:
        for delimiter in (";", "\t", "|"):
            if delimiter in header[0]:
                raise LakeJobError(
                    f"{source}: line 1 is one column containing {delimiter!r}: the file seems delimited by {delimiter!r}; expected ','"
                )
    return header


def read_landing_csv(
    spark: SparkSession, path: str, multiline: bool = False, header: Sequence[str] | None = None
) -> DataFrame:
    """Every column as a string, named from the header (vetted by ``read_header``, or ``header``
    if the caller read it already): no inference pass.

    Rows with more or fewer fields than the header keep their text in ``_corrupt_record``.
    ``multiline`` reads quoted values spanning lines, at the cost of parsing the file in one task.
    """
    if header is None:
        header = read_header(read_head(path), path)
    schema = StructType([StructField(name, StringType()) for name in [*header, CORRUPT_RECORD]])
    return spark.read.schema(schema).csv(
        path, header=True, escape='"', multiLine=multiline, mode="PERMISSIVE", columnNameOfCorruptRecord=CORRUPT_RECORD
    )


def _file_records(text: IO[str], multiline: bool, candidate: re.Pattern[str]) -> Iterator[tuple[int, list[str]]]:
    """(line it starts on, fields) of each data record, split as Spark splits the file: at every
    line end, or with ``multiline`` by the CSV grammar (a quoted value may span lines). Without
    ``multiline`` only the lines ``candidate`` finds are parsed, which keeps the pass close to the
    speed of reading lines; a line the csv module cannot parse is skipped."""
    if not multiline:
        lines = enumerate(text, start=1)
        next(lines, None)  # the header
        for number, line in lines:
            if candidate.search(line):
                try:
                    yield number, next(csv.reader((line.rstrip("\r\n"),)), [])
                except csv.Error:
                    continue
        return
    reader = csv.reader(text)
    start = None  # the header's record comes first
    try:
        for fields in reader:
            if start is not None:
                yield start, fields
            start = reader.line_num + 1
    except csv.Error:  # the rest of the file cannot be split into records
        return


def record_lines(
    path: str, records: Sequence[tuple[Sequence[str | None], bool]], width: int, multiline: bool = False
) -> list[int | None]:
    """The line of the file at ``path`` on which each record starts; ``None`` where none matches.

    Spark's CSV reader gives no line numbers, so for a handful of records (``(fields, malformed)``,
    as Spark read them from a file of ``width`` columns) the driver streams the file once with
    Python's csv module, in bounded memory, and stops when every record is found. A record matches
    a line with the same first ``width`` fields (missing ones empty, as Spark reads them) whose field
    count differs from ``width`` exactly when Spark found the record malformed; identical records
    take their lines in file order.
    """
    lines: list[int | None] = [None] * len(records)
    if not records:
        return lines
    waiting: dict[tuple[bool, tuple[str, ...]], list[int]] = {}
    needles = set()
    for index, (fields, malformed) in enumerate(records):
        values = tuple(value or "" for value in fields)
        waiting.setdefault((malformed, values), []).append(index)
        # A value a line holding the record must contain verbatim (one with a quote may be escaped,
        # one with a replaced byte may decode differently): the longest such, or "" (any line).
        plain = [value for value in values if '"' not in value and "\ufffd" not in value]
        needles.add(max(plain, key=len, default=""))
    candidate = re.compile("|".join(re.escape(needle) for needle in sorted(needles)))
    with io.TextIOWrapper(open_landing(path), encoding="utf-8-sig", errors="replace", newline="") as text:
        for number, fields in _file_records(text, multiline, candidate):
            if len(fields) <= 1 and not "".join(fields).strip():
                continue  # a blank line, which Spark skips
            key = (len(fields) != width, tuple(fields[:width]) + ("",) * (width - len(fields)))
            indexes = waiting.get(key)
            if indexes:
                lines[indexes.pop(0)] = number
                if not any(waiting.values()):
                    break
    return lines


def match_columns(actual: Sequence[str], expected: Sequence[ExpectedColumn], source: str) -> dict[str, str]:
    """Map each expected column to the file's header name, compared after trim and case fold."""
    by_normal = {normalize_column_name(name): name for name in actual}
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
    rejected: DataFrame  # in file order: ``_reason``, then the raw columns
    raw_columns: list[str]
    unexpected_columns: list[str]
    typed_columns: list[str]
    rules: list[RowCheck]
    stats: Observation
    flagged: DataFrame
    metrics: list[Column]
    _values: dict[str, Any] | None = None

    def _stat(self, name: str) -> int:
        """Observed during the pass that wrote ``frame``. When no row reached the output Spark may
        prune the observed node and report nothing; then the counts take a pass of their own."""
        if self._values is None:
            try:
                self._values = dict(self.stats.get)  # classic Spark raises, Spark Connect returns {}
            except Exception:
                self._values = {}
            if not self._values:
                self._values = self.flagged.agg(*self.metrics).first().asDict()  # type: ignore[union-attr]
        return int(self._values.get(name) or 0)

    def counts(self) -> dict[str, int]:
        return {name: self._stat(name) for name in ("input_rows", "rejected_rows", "broken_records")}

    def per_column(self, kind: str) -> dict[str, int]:
        return {name: self._stat(f"{kind}_{i}") for i, name in enumerate(self.typed_columns)}

    def rule_failures(self) -> dict[str, int]:
        return {rule.name: self._stat(f"rule_{i}") for i, rule in enumerate(self.rules)}


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
    a date), a ``required`` column is empty, its field count differs from the header's, or it holds
    bytes that are not UTF-8; each rejected row says why (``_reason``). Counts (rows, rejects,
    unparsed values per column, rows breaking each input ``rules`` check, records broken across
    lines) are observed during the pass that writes the output.
    """
    data_columns = [name for name in raw.columns if name != CORRUPT_RECORD]
    names = match_columns(data_columns, expected, source)
    typed = {c.name: parse_value(names[c.name], c.type, date_format) for c in expected}

    def empty(name: str) -> Column:
        return F.coalesce(F.trim(F.col(_quoted(names[name]))), F.lit("")) == ""

    unparsed = {c.name: ~empty(c.name) & typed[c.name].isNull() for c in expected if c.type != "string"}
    kinds = {c.name: c.type for c in expected}
    problems: list[tuple[Column, Column]] = [
        (
            bad,
            F.concat(
                F.lit(f"{names[name].strip()}: '"), F.col(_quoted(names[name])), F.lit(f"' is not a {kinds[name]}")
            ),
        )
        for name, bad in unparsed.items()
    ]
    problems += [(empty(name), F.lit(f"{names[name].strip()} is empty")) for name in required]
    problems.append(
        (
            F.concat_ws("", *[F.col(_quoted(name)) for name in data_columns]).contains("\ufffd"),
            F.lit("bytes that are not UTF-8"),
        )
    )
    broken = F.lit(False)
    if CORRUPT_RECORD in raw.columns:
        problems.append((F.col(CORRUPT_RECORD).isNotNull(), F.lit(f"not {len(data_columns)} fields like the header")))
        # An odd number of quotes: the rest of a quoted value cut by a line break.
        broken = F.col(CORRUPT_RECORD).isNotNull() & (F.size(F.split(F.col(CORRUPT_RECORD), '"')) % 2 == 0)
    is_rejected = F.greatest(*[bad.cast("int") for bad, _ in problems], F.lit(0))
    reason = F.concat_ws("; ", *[F.when(bad, text) for bad, text in problems])
    unexpected = [name for name in data_columns if name not in names.values()]
    extras = [F.col(_quoted(name)).alias(name.strip()) for name in unexpected]
    flagged = raw.select(
        *[value.alias(name) for name, value in typed.items()],
        *extras,
        is_rejected.alias("_rejected"),
        broken.cast("int").alias("_broken"),
        *[u.cast("int").alias(f"_unparsed_{i}") for i, u in enumerate(unparsed.values())],
        *[(~empty(name)).cast("int").alias(f"_nonempty_{i}") for i, name in enumerate(unparsed)],
    )
    metrics = [
        F.count(F.lit(1)).alias("input_rows"),
        F.sum("_rejected").alias("rejected_rows"),
        F.sum("_broken").alias("broken_records"),
        *[F.sum(f"_unparsed_{i}").alias(f"unparsed_{i}") for i in range(len(unparsed))],
        *[F.sum(f"_nonempty_{i}").alias(f"nonempty_{i}") for i in range(len(unparsed))],
        *[
            F.count(F.when((F.col("_rejected") == 0) & rule.failing(), 1)).alias(f"rule_{i}")
            for i, rule in enumerate(rules)
        ],
    ]
    stats = Observation("parse")
    observed = flagged.observe(stats, *metrics)
    helper_columns = [c for c in flagged.columns if c.startswith("_")]
    return TypedInput(
        frame=observed.where(F.col("_rejected") == 0).drop(*helper_columns),
        # Spark numbers rows by partition, then by their order in it; a file's partitions are its
        # consecutive splits, so the number grows with the place in the file.
        rejected=raw.withColumn(POSITION, F.monotonically_increasing_id())
        .where(is_rejected == 1)
        .orderBy(POSITION)
        .select(reason.alias("_reason"), *[F.col(_quoted(n)) for n in raw.columns]),
        raw_columns=data_columns,
        unexpected_columns=[name.strip() for name in unexpected],
        typed_columns=list(unparsed),
        rules=list(rules),
        stats=stats,
        flagged=flagged,
        metrics=metrics,
    )


def first_rejected(typed: TypedInput, source: str, multiline: bool = False) -> list[dict[str, Any]]:
    """The first rejected rows of the file, each with the line it starts on (``_line``, ``None`` if
    not found), why it was rejected (``_reason``) and its fields as read."""
    rows = examples(typed.rejected)
    records = [([row[name] for name in typed.raw_columns], row.get(CORRUPT_RECORD) is not None) for row in rows]
    lines = record_lines(source, records, len(typed.raw_columns), multiline)
    return [{"_line": line, **row} for row, line in zip(rows, lines)]


def process_landing_file(reporter: Reporter, argv: Sequence[str], transform: Callable[[DataFrame], DataFrame]) -> None:
    """The whole life of a processing job: read the landing CSV, type it, transform, write, check, report.

    Job arguments: ``--input_path`` (the landing object), ``--output_path`` (the table location),
    ``--columns`` (the registry's expected columns and types), ``--date_format``, ``--date_column``,
    ``--checks`` (what to check, JSON; see ``lake_checks.CheckPlan``).
    """
    args = parse_job_args(
        argv,
        required=["input_path", "output_path", "columns"],
        optional={"date_format": "M/d/yyyy", "date_column": "Date", "checks": "", "multiline": "false"},
    )
    source, output_path = args["input_path"], args["output_path"]
    multiline = args["multiline"].lower() == "true"
    plan = CheckPlan.parse(args["checks"])
    # Vetted before Spark starts: an empty, mis-encoded or missing file fails without a JVM.
    header = read_header(read_head(source), source)
    spark = spark_session(transform.__name__)
    reporter.info(f"reading {source} with Spark {spark.version}")
    try:
        typed = apply_types(
            read_landing_csv(spark, source, multiline, header),
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
    if counts["input_rows"] == 0:
        raise LakeJobError(f"{source}: the file has a header but no data rows")
    if counts["broken_records"] and not multiline:
        (example,) = typed.rejected.where(F.col("_reason").contains("fields like the header")).select(
            CORRUPT_RECORD
        ).limit(1).first() or ("",)
        raise LakeJobError(
            f"{source}: {counts['broken_records']} record(s) continue on a new line inside a quoted value (e.g. {example!r}); "
            "read such files with multiline=True on the dataset"
        )
    if typed.unexpected_columns:
        reporter.info(f"{source}: columns not in the registry are kept as strings: {typed.unexpected_columns}")
    reporter.info(f"read {counts['input_rows']} rows, rejected {counts['rejected_rows']}; checking {output_path}")
    rejected = first_rejected(typed, source, multiline) if counts["rejected_rows"] else []
    outcomes = [
        schema_outcome([], typed.unexpected_columns, typed.per_column("unparsed"), typed.per_column("nonempty")),
        parse_outcomes(counts["input_rows"], counts["rejected_rows"], rejected, plan.max_reject_share),
        *row_check_outcomes(typed.frame, typed.rules, typed.rule_failures()),
        *daily_table_outcomes(spark.read.parquet(output_path), plan),
    ]
    if rejected:
        where = ", ".join(f"line {example['_line'] or '?'} ({example['_reason']})" for example in rejected)
        more = ", ..." if counts["rejected_rows"] > len(rejected) else ""
        reporter.warning(f"{source}: rejected {counts['rejected_rows']} of {counts['input_rows']} rows: {where}{more}")
    reporter.table_written(
        output, output_path, rows, input_rows=counts["input_rows"], rejected_rows=counts["rejected_rows"]
    )
    for outcome in outcomes:
        reporter.check(outcome)


def write_parquet(frame: DataFrame, path: str) -> int:
    """Snappy Parquet replacing the previous output; returns the rows written (observed, one pass).

    No ``coalesce(1)``: the file count follows the last stage's partitions, which adaptive
    execution sizes to the data (see ``spark_session``).
    """
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
    """Logs to the Dagster run through Pipes when launched by Dagster, and to stderr where that is
    the log someone reads (``echo``): on Glue (CloudWatch) and when run by hand. A local Dagster
    run keeps the script's raw output too, so echoing there would log every line twice."""

    def __init__(self, pipes: Any, echo: bool = True):
        self._pipes = pipes
        self._echo = echo

    def info(self, message: str) -> None:
        if self._echo:
            log.info(message)
        self._pipes.log.info(message)

    def warning(self, message: str) -> None:
        if self._echo:
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
        level(
            f"check {outcome.name}: {'passed' if outcome.passed else 'FAILED'} {json.dumps(outcome.metadata, default=str)[:500]}"
        )
        self._pipes.report_asset_check(
            check_name=outcome.name,
            passed=outcome.passed,
            severity=outcome.severity,
            metadata={key: {"raw_value": value, "type": "__infer__"} for key, value in outcome.metadata.items()},
        )

    def error(self, message: str, retryable: bool) -> None:
        if self._echo:
            log.error(message)
        # The orchestrator side reads this to fail the step with the script's own words, and
        # retries only what may be transient.
        self._pipes.report_custom_message({"error": message, "retryable": retryable})


def _first_line(error: BaseException) -> str:
    return (str(error).strip().splitlines() or [""])[0]


def _condition(error: PySparkException) -> str | None:
    """The Spark error condition (``PATH_NOT_FOUND``...): ``getCondition`` on Spark 4,
    ``getErrorClass`` on Spark 3.5 (the Glue 5 runtime)."""
    read = getattr(error, "getCondition", None) or getattr(error, "getErrorClass", None)
    try:
        return read() if read else None
    except Exception:
        return None


def storage_trouble(error: BaseException) -> str | None:
    """What storage or metadata trouble ``error`` is, in one line; None when it is something else
    (bad input, a bug). Looks through the exceptions it was raised from, as Py4J and Spark Connect
    wrap the JVM's."""
    if isinstance(error, LakeJobError):
        return None  # the script's own verdict on the input
    seen: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and len(seen) < 10 and not any(current is s for s in seen):
        seen.append(current)
        if isinstance(current, (LakeStorageError, OSError)):  # FileNotFoundError, ConnectionError, TimeoutError...
            return f"{type(current).__name__}: {_first_line(current)}"
        if type(current).__module__.startswith(
            "botocore"
        ):  # ClientError (NoSuchKey, SlowDown), EndpointConnectionError...
            return f"{type(current).__name__}: {_first_line(current)}"
        if isinstance(current, PySparkException):
            condition = _condition(current)
            if condition in STORAGE_CONDITIONS:
                return f"{type(current).__name__}: {_first_line(current)}"
            if isinstance(current, AnalysisException) and condition and not condition.startswith("_LEGACY_ERROR"):
                return None  # classified by Spark as something else: a schema or a query the input breaks
        text = str(current)
        found = STORAGE_TEXT.search(text)
        if found:
            start = text.rfind("\n", 0, found.start()) + 1
            end = text.find("\n", found.end())
            line = text[start : end if end >= 0 else len(text)].strip()
            first = _first_line(current)
            return f"{type(current).__name__}: {first}" + (f" ({line[:300]})" if line != first else "")
        current = current.__cause__ or (None if current.__suppress_context__ else current.__context__)
    return None


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
    message); on Glue it is raised, so the job run's ErrorMessage carries it. Storage trouble
    (``storage_trouble``: a missing path, throttling, a lost connection) is never called a data
    error: it is reported retryable and raised, on Glue as ``LakeStorageError``; so is anything else.
    """
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    args = list(sys.argv[1:] if argv is None else argv)
    with _pipes() as pipes:
        reporter = Reporter(pipes, echo=on_glue() or not PipesEnvVarParamsLoader().is_dagster_pipes_process())
        try:
            body(reporter, args)
        except Exception as error:
            storage = storage_trouble(error)
            if storage is not None:
                # The store failed, not the input: retried, never quarantined.
                reporter.error(storage, retryable=True)
                if on_glue():
                    raise LakeStorageError(storage) from error
                raise
            if isinstance(error, (LakeJobError, AnalysisException)):
                # Bad input or a refused read: retrying cannot help.
                prefix = "" if isinstance(error, LakeJobError) else f"{type(error).__name__}: "
                reporter.error(prefix + _first_line(error), retryable=False)
                if on_glue():
                    raise
                raise SystemExit(1) from None
            reporter.error(f"{type(error).__name__}: {_first_line(error)}", retryable=True)
            raise
