"""SQL over the lake's Iceberg tables, and the SQL engine of input datasets: DuckDB locally,
Athena (with the Glue Data Catalog) on AWS."""

from __future__ import annotations

import re
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

import dagster as dg
import duckdb
from pyiceberg.table import Table

from etl_platform.contract.columns import quote_sql_identifier, quote_sql_literal
from etl_platform.contract.jobs import ProcessJob
from etl_platform.contract.report import ScriptResult
from etl_platform.datasets import Capacity
from etl_platform.project import SQL_SCRIPTS_DIR
from etl_platform.resources.catalog import TableCatalog, TableError, parse_time, snapshot_files
from etl_platform.resources.processing import FileProcessor
from etl_platform.resources.script_run import ScriptRun, script_failed
from etl_platform.resources.usage import EngineUsage, local_usage
from etl_platform.sql_jobs.build import Log, process_landing_file
from etl_platform.sql_jobs.dialect import DUCKDB, Dialect
from etl_platform.sql_jobs.raw import raw_table
from etl_platform.sql_jobs.runner import QueryFailed, SqlRunner


class SqlError(Exception):
    """The engine refused or failed the query; the message is the engine's."""


@dataclass(frozen=True)
class QueryResult:
    columns: list[str]
    rows: list[tuple[Any, ...]]
    # What the engine billed the query for (Athena); 0 where nothing is billed (DuckDB).
    scanned_bytes: int = 0


class SqlEngine(dg.ConfigurableResource, FileProcessor, ABC):
    """Queries over the catalog's tables, and the processing of a SQL input's landing file
    (``process_file``: ``script`` is a file of ``sql-scripts/``, one SELECT over ``typed_input``).
    ``dialect``: the SQL the engine speaks, which the query guard parses a query in."""

    dialect: ClassVar[Dialect]

    def process_file(
        self, context: dg.AssetExecutionContext, script: str, job: ProcessJob, capacity: Capacity
    ) -> ScriptRun:
        sql = (SQL_SCRIPTS_DIR / script).read_text(encoding="utf-8")
        result, usage = self.run_sql_job(job, sql, context.log, timeout_minutes=capacity.timeout_minutes)
        if result.failure is not None:
            raise script_failed(context, script, result, died=result.failure.message)
        return ScriptRun(result, usage.metadata())

    @abstractmethod
    def run_sql_job(
        self, job: ProcessJob, sql: str, log: Log, timeout_minutes: float | None = None
    ) -> tuple[ScriptResult, EngineUsage]:
        """The SQL text ``sql`` over ``job``'s landing file, with the contract of a Spark script
        (``sql_jobs.build``): what it reports, and what the engine used. A job still running after
        ``timeout_minutes`` is stopped and fails, retryable, as a Spark job past its timeout does."""

    @abstractmethod
    def query(self, sql: str, as_of: str | None = None) -> QueryResult:
        """Run ``sql`` against the catalog's tables, each at its current snapshot; ``as_of`` (a
        snapshot id or an ISO time) reads the snapshot that id names, or every table as it was then."""

    @abstractmethod
    def write_parquet(self, sql: str, location: str) -> int:
        """Write the result of ``sql`` as snappy Parquet files into the empty folder ``location``,
        so a table the engine computes is stored like the ones Spark builds; returns the bytes the
        engine billed the query for."""

    @abstractmethod
    def usage(self, scanned_bytes: Sequence[int], wall_seconds: float) -> EngineUsage:
        """What queries that scanned ``scanned_bytes`` (one figure per query) in ``wall_seconds`` used."""


# Queries' connections (and the report's): no extension is installed or loaded on demand.
QUERY_CONFIG: dict[str, str | bool | int | float | list[str]] = {
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": False,
}


# DuckDB's words for a table name it cannot find (its Catalog Error).
_MISSING_TABLE = re.compile(r"Table with name (\S+) does not exist")


def _too_old(name: str, table: Table, as_of: str) -> str:
    """Why ``name`` cannot be read at the time ``as_of``: no kept snapshot is that old."""
    when = parse_time(as_of).astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    oldest = min(table.snapshots(), key=lambda snapshot: snapshot.timestamp_ms, default=None)
    if oldest is None:
        return f"table {name} has no snapshot yet, so none as old as {when}"
    then = datetime.fromtimestamp(oldest.timestamp_ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    return f"table {name} has no snapshot as old as {when}: the oldest kept is {oldest.snapshot_id}, of {then}"


def _message(error: Exception) -> str:
    return (str(error).strip().splitlines() or [""])[0]


class DuckDBRunner(SqlRunner):
    """A SQL job's session on an in-memory DuckDB: the raw rows an Arrow table (``sql_jobs.raw``),
    the output local Parquet. A query DuckDB refuses is the data's (or the SQL text's) fault; an
    I/O error is worth a retry."""

    dialect = DUCKDB

    def __init__(self, connection: duckdb.DuckDBPyConnection, timeout_minutes: float | None = None):
        self.connection, self.timeout_minutes = connection, timeout_minutes

    def _run(self, statement: str) -> duckdb.DuckDBPyConnection:
        try:
            return self.connection.execute(statement)
        except duckdb.InterruptException:  # the job's timeout (run_sql_job's timer) interrupted it
            raise QueryFailed.of(f"the SQL job timed out after {self.timeout_minutes:g} minutes", True) from None
        except duckdb.Error as error:
            raise QueryFailed.of(f"DuckDB: {_message(error)}", isinstance(error, duckdb.IOException)) from None

    def raw_input(self, job: ProcessJob, width: int) -> str:
        self.connection.register("landing_raw", raw_table(job.input_path, width, job.multiline))
        return "landing_raw"

    def rows(self, query: str) -> list[dict[str, Any]]:
        cursor = self._run(query)
        names = [description[0] for description in cursor.description or []]
        return [dict(zip(names, row)) for row in cursor.fetchall()]

    def columns(self, query: str) -> list[tuple[str, str]]:
        return [(row[0], str(row[1]).lower()) for row in self._run(f"DESCRIBE {query}").fetchall()]

    def execute(self, statement: str) -> None:
        self._run(statement)


class DuckDBEngine(SqlEngine):
    """DuckDB in memory, with one view per catalog table over the data files of its current
    snapshot (resolved through the Iceberg catalog at each query, so a query sees each table at one
    committed snapshot, never a build in progress)."""

    catalog: TableCatalog
    dialect: ClassVar[Dialect] = DUCKDB

    def _views(self, connection: duckdb.DuckDBPyConnection, as_of: str | None) -> dict[str, str]:
        """One view per table; returns, for each table with no snapshot as old as ``as_of``, why."""
        tables = self.catalog.tables()  # each loaded once for this query
        too_old = {}
        for name, snapshot in self.catalog.pinned(tables, as_of).items():
            if as_of and snapshot is None:  # the table did not exist yet at that time, or that snapshot expired
                too_old[name] = _too_old(name, tables[name], as_of)
                continue
            files = snapshot_files(tables[name], snapshot.snapshot_id if snapshot else None)
            if files:
                source = (
                    "read_parquet([" + ", ".join(quote_sql_literal(f.removeprefix("file://")) for f in files) + "])"
                )
                connection.execute(f"CREATE VIEW {quote_sql_identifier(name)} AS SELECT * FROM {source}")
            else:  # an empty snapshot: the columns, no rows
                connection.register(f"__empty_{name}", tables[name].schema().as_arrow().empty_table())
                connection.execute(
                    f"CREATE VIEW {quote_sql_identifier(name)} AS SELECT * FROM {quote_sql_identifier('__empty_' + name)}"
                )
        return too_old

    @contextmanager
    def _connect(self, as_of: str | None = None) -> Iterator[tuple[duckdb.DuckDBPyConnection, dict[str, str]]]:
        """A connection for queries, with the tables' views and why some table has none at
        ``as_of``: nothing a query names makes DuckDB download or load an extension (``https://``
        paths would install httpfs), beside the ones built in."""
        connection = duckdb.connect(":memory:", config=QUERY_CONFIG)
        try:
            yield connection, self._views(connection, as_of)
        finally:
            connection.close()

    def query(self, sql: str, as_of: str | None = None) -> QueryResult:
        with self._connect(as_of) as (connection, too_old):
            try:
                cursor = connection.execute(sql)
            except duckdb.CatalogException as error:
                missing = _MISSING_TABLE.search(str(error))
                if missing and missing[1] in too_old:  # not "does not exist": it did not yet
                    raise TableError(too_old[missing[1]]) from None
                raise SqlError(_message(error)) from None
            except duckdb.Error as error:
                raise SqlError(str(error).strip().splitlines()[0]) from None
            columns = [description[0] for description in cursor.description or []]
            return QueryResult(columns=columns, rows=cursor.fetchall() if columns else [])

    def run_sql_job(
        self, job: ProcessJob, sql: str, log: Log, timeout_minutes: float | None = None
    ) -> tuple[ScriptResult, EngineUsage]:
        started = time.monotonic()
        Path(job.output_path).mkdir(parents=True, exist_ok=True)
        with duckdb.connect(":memory:") as connection:
            connection.execute("SET TimeZone = 'UTC'")
            # DuckDB runs in this process: the timeout interrupts its query from a timer thread.
            timer = threading.Timer(timeout_minutes * 60, connection.interrupt) if timeout_minutes else None
            if timer:
                timer.start()
            try:
                result = process_landing_file(DuckDBRunner(connection, timeout_minutes), job, sql, log)
            finally:
                if timer:
                    timer.cancel()
        return result, local_usage("duckdb", time.monotonic() - started)

    def write_parquet(self, sql: str, location: str) -> int:
        Path(location).mkdir(parents=True, exist_ok=True)
        target = quote_sql_literal(str(Path(location) / "part-00000.snappy.parquet"))
        with self._connect() as (connection, _):
            try:
                connection.execute(f"COPY ({sql}) TO {target} (FORMAT parquet, COMPRESSION snappy)")
            except duckdb.Error as error:
                raise SqlError(str(error).strip().splitlines()[0]) from None
        return 0

    def usage(self, scanned_bytes: Sequence[int], wall_seconds: float) -> EngineUsage:
        return local_usage("duckdb", wall_seconds)
