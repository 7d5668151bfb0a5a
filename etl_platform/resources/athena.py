"""Athena over the Glue Data Catalog's Iceberg tables (the AWS profile's SQL engine).

``dagster-aws``'s ``AthenaClientResource`` cannot set the query's database or result location
(it only takes a workgroup), so this talks to Athena and Glue with boto3 directly.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import boto3

from etl_platform.resources.sql import QueryResult, SqlEngine, SqlError

# Athena returns every value as text: each column type's conversion to a Python value.
CONVERT: dict[str, Callable[[str], Any]] = {
    "bigint": int,
    "integer": int,
    "int": int,
    "smallint": int,
    "tinyint": int,
    "double": float,
    "float": float,
    "real": float,
    "decimal": Decimal,
    "boolean": lambda v: v.lower() == "true",
    "date": dt.date.fromisoformat,
}


class AthenaEngine(SqlEngine):
    region_name: str
    database: str
    workgroup: str
    output_location: str
    query_timeout_seconds: float = 300
    poll_interval_seconds: float = 1.0

    def athena_client(self) -> Any:
        return boto3.client("athena", region_name=self.region_name)

    def _wait(self, athena: Any, query_id: str) -> None:
        deadline = time.monotonic() + self.query_timeout_seconds
        while True:
            status = athena.get_query_execution(QueryExecutionId=query_id)["QueryExecution"]["Status"]
            if status["State"] == "SUCCEEDED":
                return
            if status["State"] in ("FAILED", "CANCELLED"):
                reason = " ".join(str(status.get("StateChangeReason", status["State"])).split())
                raise SqlError(f"Athena query {query_id} {status['State'].lower()}: {reason}")
            if time.monotonic() > deadline:
                athena.stop_query_execution(QueryExecutionId=query_id)
                raise SqlError(
                    f"Athena query {query_id} did not finish within {self.query_timeout_seconds:g} s (stopped)"
                )
            time.sleep(self.poll_interval_seconds)

    def _execute(self, athena: Any, sql: str) -> str:
        query_id = athena.start_query_execution(
            QueryString=sql,
            QueryExecutionContext={"Database": self.database},
            WorkGroup=self.workgroup,
            ResultConfiguration={"OutputLocation": self.output_location},
        )["QueryExecutionId"]
        self._wait(athena, query_id)
        return query_id

    def query(self, sql: str, as_of: str | None = None) -> QueryResult:
        if as_of:
            # Athena reads Iceberg snapshots per table reference, in the SQL itself.
            raise SqlError(
                "on Athena, write the time travel into the SQL: FROM t FOR VERSION AS OF <snapshot id> "
                "or FOR TIMESTAMP AS OF TIMESTAMP '2026-11-30 09:00:00 UTC'"
            )
        athena = self.athena_client()
        query_id = self._execute(athena, sql)
        columns: list[str] = []
        types: list[str] = []
        rows: list[tuple[Any, ...]] = []
        for page in athena.get_paginator("get_query_results").paginate(QueryExecutionId=query_id):
            if not columns:
                info = page["ResultSet"]["ResultSetMetadata"]["ColumnInfo"]
                columns, types = [c["Name"] for c in info], [c["Type"].lower() for c in info]
                data = page["ResultSet"]["Rows"][1:]  # the first row of a SELECT repeats the header
            else:
                data = page["ResultSet"]["Rows"]
            for row in data:
                values = [cell.get("VarCharValue") for cell in row["Data"]]
                rows.append(tuple(None if v is None else CONVERT.get(t, str)(v) for v, t in zip(values, types)))
        return QueryResult(columns=columns, rows=rows)

    def write_parquet(self, sql: str, location: str) -> None:
        # UNLOAD takes a SELECT: wrapping the query lets it start with WITH. The target must be empty.
        self._execute(
            self.athena_client(),
            f"UNLOAD (SELECT * FROM (\n{sql}\n)) TO '{location.rstrip('/')}/' "
            "WITH (format = 'PARQUET', compression = 'SNAPPY')",
        )
