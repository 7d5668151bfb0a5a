"""SQL over the lake's tables: DuckDB locally (Athena in the AWS profile)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import dagster as dg
import duckdb


class SqlError(Exception):
    """The engine refused or failed the query; the message is the engine's."""


@dataclass(frozen=True)
class QueryResult:
    columns: list[str]
    rows: list[tuple[Any, ...]]


class SqlEngine(dg.ConfigurableResource, ABC):
    @abstractmethod
    def query(self, sql: str, tables: Mapping[str, str]) -> QueryResult:
        """Run ``sql`` where each table name in ``tables`` reads the data at its location."""


def _quote_identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _quote_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


class DuckDBEngine(SqlEngine):
    """DuckDB in memory, with one view per table over its Parquet files."""

    def query(self, sql: str, tables: Mapping[str, str]) -> QueryResult:
        with duckdb.connect(":memory:") as connection:
            for name, location in tables.items():
                connection.execute(
                    f"CREATE VIEW {_quote_identifier(name)} AS "
                    f"SELECT * FROM read_parquet({_quote_literal(location.rstrip('/') + '/*.parquet')})"
                )
            try:
                cursor = connection.execute(sql)
            except duckdb.Error as error:
                raise SqlError(str(error).strip().splitlines()[0]) from None
            columns = [description[0] for description in cursor.description or []]
            return QueryResult(columns=columns, rows=cursor.fetchall() if columns else [])
