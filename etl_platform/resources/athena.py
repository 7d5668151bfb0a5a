"""Athena over Glue Data Catalog tables (the AWS profile's SQL engine and catalog).

``dagster-aws``'s ``AthenaClientResource`` cannot set the query's database or result location
(it only takes a workgroup), so this talks to Athena and Glue with boto3 directly.
"""

from __future__ import annotations

import datetime as dt
import time
from decimal import Decimal
from typing import Any

import boto3

from etl_platform.resources.sql import QueryResult, SqlEngine, SqlError, TableInfo

# Spark simple types -> Hive/Athena DDL types (identical for the types the tables use).
HIVE_TYPES = {"integer": "int", "long": "bigint", "short": "smallint", "byte": "tinyint"}
PARQUET = {
    "InputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
    "OutputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat",
    "SerdeInfo": {"SerializationLibrary": "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"},
}
CONVERT = {
    "bigint": int, "integer": int, "int": int, "smallint": int, "tinyint": int,
    "double": float, "float": float, "real": float, "decimal": Decimal,
    "boolean": lambda v: v.lower() == "true", "date": dt.date.fromisoformat,
}  # fmt: skip


class AthenaEngine(SqlEngine):
    region_name: str
    database: str
    workgroup: str
    output_location: str
    query_timeout_seconds: float = 300
    poll_interval_seconds: float = 1.0

    def athena_client(self) -> Any:
        return boto3.client("athena", region_name=self.region_name)

    def glue_client(self) -> Any:
        return boto3.client("glue", region_name=self.region_name)

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
                raise SqlError(f"Athena query {query_id} did not finish within {self.query_timeout_seconds:g} s (stopped)")
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

    def query(self, sql: str) -> QueryResult:
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

    def register_table(
        self, name: str, location: str, columns: list[tuple[str, str]], row_count: int, run_id: str, rejected_rows: int = 0
    ) -> None:
        glue = self.glue_client()
        table = {
            "Name": name,
            "TableType": "EXTERNAL_TABLE",
            "Parameters": {
                "classification": "parquet",
                "etl_platform.row_count": str(row_count),
                "etl_platform.rejected_rows": str(rejected_rows),
                "etl_platform.built_at": f"{time.time():.3f}",
                "etl_platform.run_id": run_id,
            },
            "StorageDescriptor": {
                "Columns": [{"Name": column, "Type": HIVE_TYPES.get(type_, type_)} for column, type_ in columns],
                "Location": location.rstrip("/") + "/",
                **PARQUET,
            },
        }
        try:
            glue.update_table(DatabaseName=self.database, TableInput=table)
        except glue.exceptions.EntityNotFoundException:
            try:
                glue.create_table(DatabaseName=self.database, TableInput=table)
            except glue.exceptions.EntityNotFoundException:
                raise SqlError(f"Glue database {self.database} does not exist (deploy the stack first)") from None

    def tables(self) -> list[TableInfo]:
        infos = []
        for page in self.glue_client().get_paginator("get_tables").paginate(DatabaseName=self.database):
            for table in page["TableList"]:
                parameters = table.get("Parameters", {})
                storage = table.get("StorageDescriptor", {})
                infos.append(
                    TableInfo(
                        name=table["Name"],
                        location=storage.get("Location", "").rstrip("/"),
                        row_count=int(parameters.get("etl_platform.row_count", 0)),
                        built_at=float(parameters.get("etl_platform.built_at", 0)),
                        run_id=parameters.get("etl_platform.run_id", ""),
                        columns=[(c["Name"], c["Type"]) for c in storage.get("Columns", [])],
                        rejected_rows=int(parameters.get("etl_platform.rejected_rows", 0)),
                    )
                )
        return sorted(infos, key=lambda info: info.name)
