"""An Athena client for tests: moto records each query (ids, history), and the SQL text runs here
on DuckDB over a local mirror of the S3 objects it reads.

What is translated, and so DuckDB's rather than Athena's:

- ``CREATE EXTERNAL TABLE ... OpenCSVSerde ... LOCATION 's3://...'``: the folder's objects are
  downloaded and split as the SerDe does (every line a record, the first ``skip.header.line.count``
  lines skipped, bytes that are not UTF-8 replaced by U+FFFD as Hadoop's Text decodes them, fields
  by Python's csv module; missing trailing fields NULL, fields beyond the declared columns dropped;
  a line ending inside a quoted value fails the query with HIVE_BAD_DATA, as opencsv refuses it);
  the rows become a DuckDB table of that name, every column VARCHAR.
- ``CREATE EXTERNAL TABLE ... STORED AS PARQUET LOCATION 's3://...'``: a view over
  ``read_parquet`` of the folder's downloaded objects.
- ``DROP TABLE [IF EXISTS] `t```: the table or view dropped.
- ``UNLOAD (query) TO 's3://...' WITH (...)``: DuckDB's ``COPY (query) TO`` a snappy Parquet
  file, uploaded into the folder.
- Trino functions DuckDB lacks, as macros: ``regexp_like`` (DuckDB's ``regexp_matches``) and
  ``date_parse`` (``strptime``, which fails on a day that does not exist, as Joda does);
  ``try``, ``try_cast``, ``count_if``, ``date_diff``, ``concat_ws``, ``strpos`` and
  ``row_number() OVER ()`` are DuckDB's own, with the same meaning.

Every other statement runs as written. A query's ``Statistics.DataScannedInBytes`` is the size of
the files of the tables it names (DDL: none). A failed statement is FAILED with DuckDB's message
as ``StateChangeReason`` and ``AthenaError`` category 2 (user), not retryable; ``fail_next``
injects Athena's own trouble. Results come back in Athena's format: every value text, the first
row of a SELECT the column names, ``ColumnInfo`` with Athena's type names.
"""

from __future__ import annotations

import csv
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import duckdb
import pyarrow as pa

from etl_platform.resources.athena import AthenaEngine

PAGE_ROWS = 1000
# Athena's name of a DuckDB result type where they differ (Trino sums and counts BIGINT as BIGINT).
ATHENA_TYPES = {"hugeint": "bigint"}
_CREATE = re.compile(r"^CREATE EXTERNAL TABLE `(\w+)` \((.*?)\) (.*)LOCATION '(s3://[^']+)'(.*)$", re.DOTALL)
_COLUMN = re.compile(r"`([^`]+)` (\w+)")
_DROP = re.compile(r"^DROP TABLE (IF EXISTS )?`(\w+)`$")
_UNLOAD = re.compile(r"^UNLOAD \((.*)\) TO '(s3://[^']+)' WITH \(.*\)$", re.DOTALL)
_SKIP = re.compile(r"'skip\.header\.line\.count'\s*=\s*'(\d+)'")
MACROS = (
    "CREATE MACRO regexp_like(text, pattern) AS regexp_matches(text, pattern)",
    "CREATE MACRO date_parse(text, format) AS strptime(text, format)",
)


class SerDeError(Exception):
    pass


@dataclass
class Execution:
    query: str
    state: str = "SUCCEEDED"
    reason: str = ""
    error: dict[str, Any] = field(default_factory=dict)
    scanned: int = 0
    columns: list[tuple[str, str]] = field(default_factory=list)
    rows: list[tuple[Any, ...]] = field(default_factory=list)


def _split(uri: str) -> tuple[str, str]:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    return bucket, key


def opencsv_rows(data: bytes, width: int, skip: int) -> list[list[str | None]]:
    """The records OpenCSVSerde reads from a file of ``width`` declared columns."""
    rows = []
    for number, line in enumerate(data.decode("utf-8", errors="replace").splitlines(), start=1):
        if number <= skip:
            continue
        if line.count('"') % 2:
            raise SerDeError(f"HIVE_BAD_DATA: Un-terminated quoted field at end of CSV line {number}")
        fields = next(csv.reader([line]), [""])
        rows.append([fields[i] if i < len(fields) else None for i in range(width)])
    return rows


class FakeAthena:
    """``start_query_execution`` runs the statement at once; the other calls read what it did."""

    def __init__(self, region_name: str):
        self._athena = boto3.client("athena", region_name=region_name)
        self._s3 = boto3.client("s3", region_name=region_name)
        self.meta = self._athena.meta
        self.db = duckdb.connect(":memory:")
        for macro in MACROS:
            self.db.execute(macro)
        self.mirror = Path(tempfile.mkdtemp(prefix="fake-athena-"))
        self.executions: dict[str, Execution] = {}
        self.table_bytes: dict[str, int] = {}
        # (text in the statement, Athena's status fields) of failures to report instead of running it
        self.fail_next: list[tuple[str, dict[str, Any]]] = []

    def _download(self, location: str) -> tuple[list[Path], int]:
        bucket, prefix = _split(location)
        files = []
        for page in self._s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                target = self.mirror / bucket / item["Key"]
                target.parent.mkdir(parents=True, exist_ok=True)
                self._s3.download_file(bucket, item["Key"], str(target))
                files.append(target)
        return files, sum(f.stat().st_size for f in files)

    def _create(self, name: str, columns: str, storage: str, location: str, properties: str) -> None:
        declared = _COLUMN.findall(columns)
        files, size = self._download(location)
        self.table_bytes[name] = size
        if "PARQUET" in storage:
            paths = ", ".join(f"'{f}'" for f in files)
            self.db.execute(f'CREATE VIEW "{name}" AS SELECT * FROM read_parquet([{paths}])')
            return
        skip = int((_SKIP.search(properties) or [0, 0])[1])
        rows = [row for f in files for row in opencsv_rows(f.read_bytes(), len(declared), skip)]
        table = pa.table(
            {column: pa.array([row[i] for row in rows], pa.string()) for i, (column, _) in enumerate(declared)}
        )
        self.db.register("__arrow", table)
        self.db.execute(f'CREATE TABLE "{name}" AS SELECT * FROM __arrow')
        self.db.unregister("__arrow")

    def _unload(self, query: str, location: str) -> int:
        bucket, prefix = _split(location)
        local = self.mirror / "unload" / prefix
        local.mkdir(parents=True, exist_ok=True)
        target = local / "part-00000.snappy.parquet"
        scanned = self._scanned(query)
        self.db.execute(f"COPY ({query}) TO '{target}' (FORMAT parquet, COMPRESSION snappy)")
        self._s3.upload_file(str(target), bucket, prefix.rstrip("/") + "/" + target.name)
        return scanned

    def _scanned(self, sql: str) -> int:
        return sum(size for name, size in self.table_bytes.items() if name in sql)

    def _run(self, sql: str, execution: Execution) -> None:
        created, dropped, unload = _CREATE.match(sql), _DROP.match(sql), _UNLOAD.match(sql)
        if created:
            self._create(*created.groups())
        elif dropped:
            name = dropped.group(2)
            kinds = self.db.execute(
                "SELECT table_type FROM information_schema.tables WHERE table_name = ?", [name]
            ).fetchall()
            for (kind,) in kinds:
                self.db.execute(f'DROP {"VIEW" if kind == "VIEW" else "TABLE"} "{name}"')
            self.table_bytes.pop(name, None)
        elif unload:
            execution.scanned = self._unload(*unload.groups())
        else:
            cursor = self.db.execute(sql)
            execution.scanned = self._scanned(sql)
            execution.columns = [
                (d[0], ATHENA_TYPES.get(str(d[1]).lower(), str(d[1]).lower())) for d in cursor.description or []
            ]
            execution.rows = cursor.fetchall()

    def start_query_execution(self, **params: Any) -> dict[str, str]:
        query_id = self._athena.start_query_execution(**params)["QueryExecutionId"]
        sql = params["QueryString"]
        execution = self.executions[query_id] = Execution(sql)
        injected = next((status for text, status in self.fail_next if text in sql), None)
        if injected is not None:
            execution.state, execution.reason = "FAILED", injected["StateChangeReason"]
            execution.error = injected.get("AthenaError", {})
            return {"QueryExecutionId": query_id}
        try:
            self._run(sql, execution)
        except (duckdb.Error, SerDeError) as error:
            execution.state, execution.reason = "FAILED", str(error).splitlines()[0]
            execution.error = {"ErrorCategory": 2, "ErrorType": 1006, "Retryable": False}
        return {"QueryExecutionId": query_id}

    def get_query_execution(self, QueryExecutionId: str) -> dict[str, Any]:
        execution = self.executions[QueryExecutionId]
        status: dict[str, Any] = {"State": execution.state}
        if execution.state == "FAILED":
            status |= {"StateChangeReason": execution.reason, "AthenaError": execution.error}
        return {
            "QueryExecution": {
                "QueryExecutionId": QueryExecutionId,
                "Query": execution.query,
                "Status": status,
                "Statistics": {"DataScannedInBytes": execution.scanned},
            }
        }

    def stop_query_execution(self, QueryExecutionId: str) -> dict[str, Any]:
        return self._athena.stop_query_execution(QueryExecutionId=QueryExecutionId)

    def list_query_executions(self, **params: Any) -> dict[str, Any]:
        return self._athena.list_query_executions(**params)

    def get_query_results(self, QueryExecutionId: str, NextToken: str | None = None) -> dict[str, Any]:
        execution = self.executions[QueryExecutionId]
        start = int(NextToken or 0)
        header = [] if start else [{"Data": [{"VarCharValue": name} for name, _ in execution.columns]}]
        rows = [
            {"Data": [{} if value is None else {"VarCharValue": _text(value)} for value in row]}
            for row in execution.rows[start : start + PAGE_ROWS]
        ]
        page: dict[str, Any] = {
            "ResultSet": {
                "Rows": header + rows,
                "ResultSetMetadata": {"ColumnInfo": [{"Name": n, "Type": t} for n, t in execution.columns]},
            }
        }
        if start + PAGE_ROWS < len(execution.rows):
            page["NextToken"] = str(start + PAGE_ROWS)
        return page


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


class FakeAthenaEngine(AthenaEngine):
    """The real Athena engine over a FakeAthena: a new one for each client the engine asks for
    (one per SQL job or query, which keeps its executions to itself)."""

    def athena_client(self) -> FakeAthena:
        return FakeAthena(self.region_name)
