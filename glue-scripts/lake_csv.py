"""Reading a landing CSV: vetting its encoding and header before Spark reads it, reading it with
every column as a string, and finding the line a record Spark read starts on."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator, Sequence
from contextlib import closing
from typing import IO, Any

from lake_job import LakeJobError
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.types import StringType, StructField, StructType

from etl_platform.contract.columns import normalize_column_name

# Rows whose field count does not match the header land here (Spark's PERMISSIVE mode).
CORRUPT_RECORD = "_corrupt_record"
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


def _position(data: bytes, offset: int) -> tuple[int, int]:
    """The line and the byte within it (both from 1) of ``offset``."""
    line = data.count(b"\n", 0, offset) + 1
    return line, offset - (data.rfind(b"\n", 0, offset) + 1) + 1


def _decoded_head(head: bytes, source: str) -> str:
    """The head as text, if it is UTF-8 (a byte order mark dropped): Spark reads anything else wrong."""
    if not head:
        raise LakeJobError(f"{source}: the file is empty (0 bytes)")
    for bom, encoding in WIDE_BOMS:
        if head.startswith(bom):
            raise LakeJobError(f"{source}: the file is {encoding} encoded; save it as UTF-8")
    text = head.removeprefix(UTF8_BOM)
    try:
        return text.decode("utf-8")
    except UnicodeDecodeError as error:
        if error.reason == "unexpected end of data" and len(head) == HEAD_BYTES:
            return text[: error.start].decode("utf-8")  # a character cut by the end of the head
        line, column = _position(text, error.start)
        raise LakeJobError(
            f"{source}: line {line}, byte {column}: byte 0x{text[error.start]:02X} is not UTF-8 "
            "(Latin-1 or Windows-1252?); save the file as UTF-8",
            line,
        ) from None


def _vet_names(header: Sequence[str], source: str) -> None:
    """No two columns with one name, and no other delimiter than the comma."""
    first_position: dict[str, int] = {}
    for position, name in enumerate(header, start=1):
        earlier = first_position.setdefault(normalize_column_name(name), position)
        if earlier != position:
            raise LakeJobError(
                f"{source}: line 1: columns {earlier} and {position} are both named {name.strip()!r}", line=1
            )
    if len(header) == 1:
        for delimiter in (";", "\t", "|"):
            if delimiter in header[0]:
                raise LakeJobError(
                    f"{source}: line 1 is one column containing {delimiter!r}: the file seems delimited by {delimiter!r}; expected ','",
                    line=1,
                )


def read_header(head: bytes, source: str) -> list[str]:
    """The header's column names, after vetting what Spark would read silently wrong: an empty
    file, UTF-16/32, bytes that are not UTF-8, another delimiter. A UTF-8 byte order mark is fine."""
    records = csv.reader(io.StringIO(_decoded_head(head, source)))
    header = next(records, [])
    if not any(name.strip() for name in header):
        raise LakeJobError(f"{source}: line 1, the header, is empty", line=1)
    if len(head) < HEAD_BYTES and not any(any(field.strip() for field in record) for record in records):
        raise LakeJobError(f"{source}: the file has a header but no data rows")
    _vet_names(header, source)
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


def _wanted(
    records: Sequence[tuple[Sequence[str | None], bool]],
) -> tuple[dict[tuple[bool, tuple[str, ...]], list[int]], re.Pattern[str]]:
    """The records to find by (malformed, fields), and a pattern every line holding one matches:
    per record the longest value a line must contain verbatim (one with a quote may be escaped,
    one with a replaced byte may decode differently), or "" (any line)."""
    waiting: dict[tuple[bool, tuple[str, ...]], list[int]] = {}
    needles = set()
    for index, (fields, malformed) in enumerate(records):
        values = tuple(value or "" for value in fields)
        waiting.setdefault((malformed, values), []).append(index)
        plain = [value for value in values if '"' not in value and "\ufffd" not in value]
        needles.add(max(plain, key=len, default=""))
    return waiting, re.compile("|".join(re.escape(needle) for needle in sorted(needles)))


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
    waiting, candidate = _wanted(records)
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
