"""A landing CSV as every engine must see it: its encoding and header vetted before any engine
reads it, the header matched to the registry's columns, its records split as Spark splits them,
and the line each record starts on. Standard library only (boto3, part of the Glue runtime, for
``s3://`` paths); shared by the Spark scripts and the SQL engine."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator, Sequence
from contextlib import closing
from dataclasses import dataclass
from typing import IO, Any

from etl_platform.contract.columns import ExpectedColumn, normalize_column_name
from etl_platform.contract.errors import InputError

# Where a record whose field count differs from the header's keeps its text (Spark's PERMISSIVE
# mode), and the key of that text in a rejected row's example.
CORRUPT_RECORD = "_corrupt_record"
# Enough of the file to vet its encoding and header without an engine, and without reading it all.
HEAD_BYTES = 64 * 1024
# What a file with one of these at the start is encoded in; an engine would read it as garbage.
WIDE_BOMS = (
    (b"\xff\xfe\x00\x00", "UTF-32"),
    (b"\x00\x00\xfe\xff", "UTF-32"),
    (b"\xff\xfe", "UTF-16"),
    (b"\xfe\xff", "UTF-16"),
)
UTF8_BOM = b"\xef\xbb\xbf"
# A file is binary, not text, with a NUL byte in its head, or a control character in its first line
# (a header names columns; tab, line ends, form feed, vertical tab and DOS's end-of-file mark
# 0x1A aside): a data value with a stray control character is the row's trouble, not the file's.
BINARY_BYTE = re.compile(rb"\x00|\A[^\n]*?[\x01-\x08\x0e-\x19\x1b-\x1f\x7f]")


# Hadoop's paths read a ':' in a file name as the end of a URI scheme: Spark, on every engine that
# runs it, cannot open such a file (URISyntaxException), whatever it holds.
UNREADABLE_NAME_CHARACTERS = frozenset(":")


def unreadable_name(path: str) -> str | None:
    """Why the engines cannot open the landing file at ``path`` by its name; None when they can.
    ``etl-platform land`` refuses such a name, and a file landed by another way is refused as bad
    input by every engine (so it is quarantined, not retried)."""
    name = path.rsplit("/", 1)[-1]
    odd = "".join(sorted(set(name) & UNREADABLE_NAME_CHARACTERS))
    if odd:
        return (
            f"the file name holds {odd!r}, which Spark cannot open (Hadoop reads it as a URI scheme); rename the file"
        )
    return None


class MissingColumnsError(InputError):
    """The header lacks columns the registry expects; ``raw_schema`` reports both lists."""

    def __init__(self, message: str, missing: list[str], unexpected: list[str]):
        super().__init__(message)
        self.missing, self.unexpected = missing, unexpected


def open_landing(path: str, **s3_request: Any) -> IO[bytes]:
    """A landing file as a byte stream (a local path, or an S3 object streamed by boto3);
    ``s3_request``: e.g. a ``Range``."""
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
    """The head as text, if it is UTF-8 (a byte order mark dropped): engines read anything else wrong."""
    if not head:
        raise InputError(f"{source}: the file is empty (0 bytes)")
    for bom, encoding in WIDE_BOMS:
        if head.startswith(bom):
            raise InputError(f"{source}: the file is {encoding} encoded; save it as UTF-8")
    text = head.removeprefix(UTF8_BOM)
    binary = BINARY_BYTE.search(text)
    if binary:
        line, column = _position(text, binary.end() - 1)
        raise InputError(
            f"{source}: the file is not text (line {line}, byte {column} is the control character "
            f"0x{text[binary.end() - 1]:02X}): expected a CSV file",
            line,
        )
    try:
        return text.decode("utf-8")
    except UnicodeDecodeError as error:
        if error.reason == "unexpected end of data" and len(head) == HEAD_BYTES:
            return text[: error.start].decode("utf-8")  # a character cut by the end of the head
        line, column = _position(text, error.start)
        raise InputError(
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
            raise InputError(
                f"{source}: line 1: columns {earlier} and {position} are both named {name.strip()!r}", line=1
            )
    if len(header) == 1:
        for delimiter in (";", "\t", "|"):
            if delimiter in header[0]:
                raise InputError(
                    f"{source}: line 1 is one column containing {delimiter!r}: the file seems delimited by {delimiter!r}; expected ','",
                    line=1,
                )


def read_header(head: bytes, source: str) -> list[str]:
    """The header's column names, after vetting what an engine would read silently wrong: an empty
    file, UTF-16/32, bytes that are not UTF-8, another delimiter, a name Spark cannot open. A UTF-8
    byte order mark is fine."""
    unreadable = unreadable_name(source)
    if unreadable:
        raise InputError(f"{source}: {unreadable}")
    records = csv.reader(io.StringIO(_decoded_head(head, source)))
    header = next(records, [])
    if not any(name.strip() for name in header):
        raise InputError(f"{source}: line 1, the header, is empty", line=1)
    if len(head) < HEAD_BYTES and not any(any(field.strip() for field in record) for record in records):
        raise InputError(f"{source}: the file has a header but no data rows")
    _vet_names(header, source)
    return header


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


@dataclass(frozen=True)
class FileRecord:
    """A data record as Spark splits the file: the line it starts on, its fields, and the line's
    text (``None`` for a multiline read, where a record may span lines)."""

    line: int
    fields: list[str]
    text: str | None = None

    @property
    def blank(self) -> bool:
        """A blank line, which Spark skips."""
        return len(self.fields) <= 1 and not "".join(self.fields).strip()

    def broken(self, width: int) -> bool:
        """Malformed with an odd number of quotes: the rest of a quoted value cut by a line break."""
        return self.text is not None and len(self.fields) != width and self.text.count('"') % 2 == 1


def file_records(text: IO[str], multiline: bool, candidate: re.Pattern[str] | None = None) -> Iterator[FileRecord]:
    """Each data record of the file, split as Spark splits it: at every line end, or with
    ``multiline`` by the CSV grammar (a quoted value may span lines). Without ``multiline`` only
    the lines ``candidate`` finds (all without one) are parsed, which keeps a search close to the
    speed of reading lines; a line the csv module cannot parse is skipped."""
    if not multiline:
        lines = enumerate(text, start=1)
        next(lines, None)  # the header
        for number, line in lines:
            if candidate is None or candidate.search(line):
                stripped = line.rstrip("\r\n")
                try:
                    yield FileRecord(number, next(csv.reader((stripped,)), []), stripped)
                except csv.Error:
                    continue
        return
    reader = csv.reader(text)
    start = None  # the header's record comes first
    try:
        for fields in reader:
            if start is not None:
                yield FileRecord(start, fields)
            start = reader.line_num + 1
    except csv.Error:  # the rest of the file cannot be split into records
        return


def landing_text(path: str) -> IO[str]:
    """The landing file as text, a byte order mark dropped and bytes that are not UTF-8 replaced
    by U+FFFD, as Spark decodes them."""
    return io.TextIOWrapper(open_landing(path), encoding="utf-8-sig", errors="replace", newline="")


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


def record_sources(
    path: str, records: Sequence[tuple[Sequence[str | None], bool]], width: int, multiline: bool = False
) -> list[FileRecord | None]:
    """The record of the file at ``path`` each of ``records`` was read from; ``None`` where none matches.

    Engines give no line numbers, so for a handful of records (``(fields, malformed)``, as the
    engine read them from a file of ``width`` columns) the file is streamed once with Python's csv
    module, in bounded memory, until every record is found. A record matches a line with the same
    first ``width`` fields (missing ones empty) whose field count differs from ``width`` exactly
    when the engine found the record malformed; identical records take their lines in file order.
    """
    found: list[FileRecord | None] = [None] * len(records)
    if not records:
        return found
    waiting, candidate = _wanted(records)
    with landing_text(path) as text:
        for record in file_records(text, multiline, candidate):
            if record.blank:
                continue
            fields = record.fields
            key = (len(fields) != width, tuple(fields[:width]) + ("",) * (width - len(fields)))
            indexes = waiting.get(key)
            if indexes:
                found[indexes.pop(0)] = record
                if not any(waiting.values()):
                    break
    return found


def record_lines(
    path: str, records: Sequence[tuple[Sequence[str | None], bool]], width: int, multiline: bool = False
) -> list[int | None]:
    """The line of the file at ``path`` on which each record starts (see ``record_sources``)."""
    return [None if record is None else record.line for record in record_sources(path, records, width, multiline)]
