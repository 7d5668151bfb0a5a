"""SQL over the lake's Iceberg tables: DuckDB locally, Athena (with the Glue Data Catalog) on AWS."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb

from etl_platform.resources.catalog import TableCatalog, snapshot_files


class SqlError(Exception):
    """The engine refused or failed the query; the message is the engine's."""


@dataclass(frozen=True)
class QueryResult:
    columns: list[str]
    rows: list[tuple[Any, ...]]


class SqlEngine(dg.ConfigurableResource, ABC):
    @abstractmethod
    def query(self, sql: str, as_of: str | None = None) -> QueryResult:
        """Run ``sql`` against the catalog's tables, each at its current snapshot; ``as_of`` (a
        snapshot id or an ISO time) reads the snapshot that id names, or every table as it was then."""

    @abstractmethod
    def write_parquet(self, sql: str, location: str) -> None:
        """Write the result of ``sql`` as snappy Parquet files into the empty folder ``location``,
        so a table the engine computes is stored like the ones Spark builds."""


def _identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


class DuckDBEngine(SqlEngine):
    """DuckDB in memory, with one view per catalog table over the data files of its current
    snapshot (resolved through the Iceberg catalog at each query, so a query sees each table at one
    committed snapshot, never a build in progress)."""

    catalog: TableCatalog

    def _views(self, connection: duckdb.DuckDBPyConnection, as_of: str | None) -> None:
        tables = self.catalog.tables()  # each loaded once for this query
        for name, snapshot in self.catalog.pinned(tables, as_of).items():
            if as_of and snapshot is None:
                continue  # the table did not exist yet at that time
            files = snapshot_files(tables[name], snapshot.snapshot_id if snapshot else None)
            if files:
                source = "read_parquet([" + ", ".join(_literal(f.removeprefix("file://")) for f in files) + "])"
                connection.execute(f"CREATE VIEW {_identifier(name)} AS SELECT * FROM {source}")
            else:  # an empty snapshot: the columns, no rows
                connection.register(f"__empty_{name}", tables[name].schema().as_arrow().empty_table())
                connection.execute(f"CREATE VIEW {_identifier(name)} AS SELECT * FROM {_identifier('__empty_' + name)}")

    @contextmanager
    def _connect(self, as_of: str | None = None) -> Iterator[duckdb.DuckDBPyConnection]:
        connection = duckdb.connect(":memory:")
        try:
            self._views(connection, as_of)
            yield connection
        finally:
            connection.close()

    def query(self, sql: str, as_of: str | None = None) -> QueryResult:
        with self._connect(as_of) as connection:
            try:
                cursor = connection.execute(sql)
            except duckdb.Error as error:
                raise SqlError(str(error).strip().splitlines()[0]) from None
            columns = [description[0] for description in cursor.description or []]
            return QueryResult(columns=columns, rows=cursor.fetchall() if columns else [])

    def write_parquet(self, sql: str, location: str) -> None:
        Path(location).mkdir(parents=True, exist_ok=True)
        target = _literal(str(Path(location) / "part-00000.snappy.parquet"))
        with self._connect() as connection:
            try:
                connection.execute(f"COPY ({sql}) TO {target} (FORMAT parquet, COMPRESSION snappy)")
            except duckdb.Error as error:
                raise SqlError(str(error).strip().splitlines()[0]) from None
