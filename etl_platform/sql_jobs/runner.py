"""What ``sql_jobs`` needs of an engine (DuckDB or Athena), and how an engine says a query failed."""

from __future__ import annotations

import datetime as dt
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any

from etl_platform.contract.jobs import ProcessJob
from etl_platform.contract.report import FailureKind, ScriptFailure
from etl_platform.sql_jobs.dialect import Dialect

# Spark's simple name of each type a query result may have, where the engines' differ.
SPARK_TYPE_NAMES = {"varchar": "string", "integer": "int", "hugeint": "decimal(38,0)", "real": "float"}


def spark_type_name(engine_type: str) -> str:
    """``VARCHAR`` -> ``string``, ``BIGINT`` -> ``bigint``: types as ``BuildReport`` names them."""
    lowered = engine_type.lower()
    return SPARK_TYPE_NAMES.get(lowered, lowered)


def json_value(value: Any) -> Any:
    """A result value as a check's metadata keeps it (dates as ISO text)."""
    return value.isoformat() if isinstance(value, (dt.date, dt.datetime)) else value


class QueryFailed(Exception):
    """A query the engine failed: ``failure`` says whether the input (or the dataset's SQL) is at
    fault or the engine's trouble is worth a retry."""

    def __init__(self, failure: ScriptFailure):
        super().__init__(failure.message)
        self.failure = failure

    @classmethod
    def of(cls, message: str, retryable: bool) -> QueryFailed:
        return cls(ScriptFailure(message, FailureKind.RETRYABLE if retryable else FailureKind.DATA))


class SqlRunner(ABC):
    """One processing job's session on an engine; raises ``QueryFailed`` when a query fails."""

    dialect: Dialect

    @abstractmethod
    def raw_input(self, job: ProcessJob, width: int) -> str:
        """The name of a relation over the landing file's raw rows (``dialect.raw_rows`` reads it)."""

    @abstractmethod
    def rows(self, query: str) -> list[dict[str, Any]]:
        """The rows of a SELECT, as Python values by column name."""

    @abstractmethod
    def columns(self, query: str) -> list[tuple[str, str]]:
        """(name, the engine's type name, lower case) of each column ``query`` returns, without running it whole."""

    @abstractmethod
    def execute(self, statement: str) -> None:
        """A statement that returns no rows: a write, DDL."""

    def written(self, name: str, location: str, columns: Sequence[tuple[str, str]]) -> str:
        """``name``, made a relation over the Parquet files in ``location``."""
        self.execute(self.dialect.parquet_relation(name, location, columns))
        return name
