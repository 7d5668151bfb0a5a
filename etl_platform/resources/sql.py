"""SQL over the lake's tables and their catalog: DuckDB locally (Athena with the Glue catalog on AWS)."""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb


class SqlError(Exception):
    """The engine refused or failed the query; the message is the engine's."""


@dataclass(frozen=True)
class QueryResult:
    columns: list[str]
    rows: list[tuple[Any, ...]]


@dataclass(frozen=True)
class TableInfo:
    name: str
    location: str
    row_count: int
    built_at: float
    run_id: str
    columns: list[tuple[str, str]]
    rejected_rows: int = 0  # landing rows the published version left out (InputDataset.max_reject_share)


class SqlEngine(dg.ConfigurableResource, ABC):
    @abstractmethod
    def query(self, sql: str) -> QueryResult:
        """Run ``sql`` against the catalog's tables."""

    @abstractmethod
    def register_table(
        self, name: str, location: str, columns: list[tuple[str, str]], row_count: int, run_id: str, rejected_rows: int = 0
    ) -> None:
        """Point table ``name`` at the data now at ``location`` (called after every good build).

        ``columns`` are (name, Spark type) pairs, for catalogs that store a schema (Glue);
        ``rejected_rows``: landing rows the version left out, so the catalog shows it is not its whole file.
        """

    @abstractmethod
    def tables(self) -> list[TableInfo]:
        """Every registered table with its columns, row count and last build."""

    @abstractmethod
    def write_parquet(self, sql: str, location: str) -> None:
        """Write the result of ``sql`` as snappy Parquet files into the empty folder ``location``,
        so a table the engine computes is stored like the ones Spark builds."""


def _identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


class DuckDBEngine(SqlEngine):
    """A DuckDB database file (``<lake>/catalog.duckdb``) with one view per table over its Parquet.

    ``duckdb <lake>/catalog.duckdb`` shows the same tables as ``etl-platform query``.
    """

    catalog_path: str
    lock_timeout_seconds: float = 60

    @contextmanager
    def _connect(self, read_only: bool) -> Iterator[duckdb.DuckDBPyConnection]:
        # DuckDB lets one process write a database file at a time; runs for different tables may
        # finish together, so a writer (or a reader meeting one) waits briefly and tries again.
        # Before the first build there is no file: readers get an empty database.
        database = self.catalog_path if not read_only or Path(self.catalog_path).exists() else ":memory:"
        deadline = time.monotonic() + self.lock_timeout_seconds
        while True:
            try:
                connection = duckdb.connect(database, read_only=read_only and database != ":memory:")
                break
            except duckdb.IOException as error:
                if "lock" not in str(error).lower() or time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        try:
            yield connection
        finally:
            connection.close()

    def register_table(
        self, name: str, location: str, columns: list[tuple[str, str]], row_count: int, run_id: str, rejected_rows: int = 0
    ) -> None:
        # DuckDB reads the schema from the Parquet files, so ``columns`` is not needed here.
        Path(self.catalog_path).parent.mkdir(parents=True, exist_ok=True)
        with self._connect(read_only=False) as connection:
            connection.execute("BEGIN")
            connection.execute(
                f"CREATE OR REPLACE VIEW {_identifier(name)} AS "
                f"SELECT * FROM read_parquet({_literal(location.rstrip('/') + '/*.parquet')})"
            )
            connection.execute(
                "CREATE TABLE IF NOT EXISTS etl_tables (name VARCHAR PRIMARY KEY, location VARCHAR,"
                " row_count BIGINT, built_at DOUBLE, run_id VARCHAR)"
            )
            # The catalog file outlives code versions: a column it lacks is added here.
            connection.execute("ALTER TABLE etl_tables ADD COLUMN IF NOT EXISTS rejected_rows BIGINT DEFAULT 0")
            connection.execute(
                "INSERT OR REPLACE INTO etl_tables (name, location, row_count, built_at, run_id, rejected_rows)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                [name, location, row_count, time.time(), run_id, rejected_rows],
            )
            connection.execute("COMMIT")

    def query(self, sql: str) -> QueryResult:
        with self._connect(read_only=True) as connection:
            try:
                cursor = connection.execute(sql)
            except duckdb.Error as error:
                raise SqlError(str(error).strip().splitlines()[0]) from None
            columns = [description[0] for description in cursor.description or []]
            return QueryResult(columns=columns, rows=cursor.fetchall() if columns else [])

    def write_parquet(self, sql: str, location: str) -> None:
        Path(location).mkdir(parents=True, exist_ok=True)
        target = _literal(str(Path(location) / "part-00000.snappy.parquet"))
        with self._connect(read_only=True) as connection:
            try:
                connection.execute(f"COPY ({sql}) TO {target} (FORMAT parquet, COMPRESSION snappy)")
            except duckdb.Error as error:
                raise SqlError(str(error).strip().splitlines()[0]) from None

    def tables(self) -> list[TableInfo]:
        if not Path(self.catalog_path).exists():
            return []
        with self._connect(read_only=True) as connection:
            # Columns by name: a catalog file not yet written by this code lacks the newer ones.
            cursor = connection.execute("SELECT * FROM etl_tables ORDER BY name")
            names = [description[0] for description in cursor.description]
            infos = []
            for entry in (dict(zip(names, row)) for row in cursor.fetchall()):
                try:
                    columns = [(c[0], c[1]) for c in connection.execute(f"DESCRIBE {_identifier(entry['name'])}").fetchall()]
                except duckdb.Error:
                    columns = []  # the data moved away under the view; `tables` still lists it
                infos.append(
                    TableInfo(
                        entry["name"], entry["location"], entry["row_count"], entry["built_at"], entry["run_id"], columns,
                        rejected_rows=entry.get("rejected_rows") or 0,
                    )
                )  # fmt: skip
            return infos
