"""Athena over the Glue Data Catalog's Iceberg tables (the AWS profile's SQL engine).

``dagster-aws``'s ``AthenaClientResource`` cannot set the query's database or result location
(it only takes a workgroup), so this talks to Athena and Glue with boto3 directly.
"""

from __future__ import annotations

import datetime as dt
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from decimal import Decimal
from typing import Any, ClassVar

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from etl_platform.contract.errors import STORAGE_TEXT, ContractError
from etl_platform.contract.jobs import ProcessJob
from etl_platform.contract.report import ScriptResult
from etl_platform.resources.sql import QueryResult, SqlEngine, SqlError
from etl_platform.resources.usage import EngineUsage, athena_usage
from etl_platform.sql_jobs.build import Log, process_landing_file
from etl_platform.sql_jobs.dialect import TRINO, Dialect
from etl_platform.sql_jobs.runner import QueryFailed, SqlRunner

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


# Athena's ErrorCategory of a failed query that is its own trouble, not the query's.
SYSTEM_ERROR = 1
# Words of a failure worth a retry, beside storage trouble.
RETRYABLE_TEXT = ("INTERNAL_ERROR", "ThrottlingException", "TooManyRequests", "Rate exceeded", "did not finish within")


def _split(uri: str) -> tuple[str, str]:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    return bucket, key


def _retryable(status: dict[str, Any], reason: str) -> bool:
    """Athena's own verdict when it gives one (``AthenaError``), else the words of the reason."""
    error = status.get("AthenaError") or {}
    if error.get("Retryable") or error.get("ErrorCategory") == SYSTEM_ERROR:
        return True
    return bool(STORAGE_TEXT.search(reason)) or any(word in reason for word in RETRYABLE_TEXT)


class AthenaEngine(SqlEngine):
    """SQL jobs and UNLOADs run in ``workgroup`` with the caller's credentials; queries (``query``:
    ``etl-platform query``, the report's) run in ``query_workgroup`` as ``query_role_arn`` when they
    are set, which can only read: a statement that would write fails there whatever let it through."""

    dialect: ClassVar[Dialect] = TRINO
    region_name: str
    database: str
    workgroup: str
    output_location: str
    query_workgroup: str | None = None
    query_role_arn: str | None = None
    query_timeout_seconds: float = 300
    poll_interval_seconds: float = 1.0

    def athena_client(self) -> Any:
        return boto3.client("athena", region_name=self.region_name)

    def query_session(self) -> boto3.Session | None:
        """A session as ``query_role_arn`` for one query's calls; None without one (the caller's own
        credentials). boto3 assumes a role only from a profile in the AWS config files, which the
        AWS profile of the platform does not require: so STS is asked here."""
        if not self.query_role_arn:
            return None
        sts = boto3.client("sts", region_name=self.region_name)
        credentials = sts.assume_role(RoleArn=self.query_role_arn, RoleSessionName="etl-platform-query")["Credentials"]
        return boto3.Session(
            aws_access_key_id=credentials["AccessKeyId"],
            aws_secret_access_key=credentials["SecretAccessKey"],
            aws_session_token=credentials["SessionToken"],
            region_name=self.region_name,
        )

    def query_client(self) -> Any:
        """The Athena client queries run with: the query role's, else ``athena_client``'s."""
        session = self.query_session()
        return session.client("athena") if session else self.athena_client()

    def s3_client(self) -> Any:
        return boto3.client("s3", region_name=self.region_name)

    def finished(
        self, athena: Any, sql: str, limit_seconds: float | None = None, read_only: bool = False
    ) -> tuple[str, dict[str, Any]]:
        """Runs ``sql`` to its end: its id and its execution (``Status``, ``Statistics``); raises
        ``SqlError`` with Athena's reason when it fails, ``status`` then in its ``execution``. It is
        stopped after ``query_timeout_seconds``, or ``limit_seconds`` if sooner. ``read_only``: in
        ``query_workgroup`` (if set), whose own results location applies."""
        limit = self.query_timeout_seconds if limit_seconds is None else min(self.query_timeout_seconds, limit_seconds)
        where: dict[str, Any] = {
            "WorkGroup": self.workgroup,
            "ResultConfiguration": {"OutputLocation": self.output_location},
        }
        if read_only and self.query_workgroup:
            where = {"WorkGroup": self.query_workgroup}
        query_id = athena.start_query_execution(
            QueryString=sql, QueryExecutionContext={"Database": self.database}, **where
        )["QueryExecutionId"]
        deadline = time.monotonic() + limit
        while True:
            execution = athena.get_query_execution(QueryExecutionId=query_id)["QueryExecution"]
            status = execution["Status"]
            if status["State"] == "SUCCEEDED":
                return query_id, execution
            if status["State"] in ("FAILED", "CANCELLED"):
                reason = " ".join(str(status.get("StateChangeReason", status["State"])).split())
                raise AthenaQueryError(f"Athena query {query_id} {status['State'].lower()}: {reason}", status)
            if time.monotonic() > deadline:
                athena.stop_query_execution(QueryExecutionId=query_id)
                raise AthenaQueryError(f"Athena query {query_id} did not finish within {limit:g} s (stopped)", status)
            time.sleep(self.poll_interval_seconds)

    def run_sql_job(
        self, job: ProcessJob, sql: str, log: Log, timeout_minutes: float | None = None
    ) -> tuple[ScriptResult, EngineUsage]:
        deadline = time.monotonic() + timeout_minutes * 60 if timeout_minutes else None
        runner = AthenaRunner(self, self.athena_client(), self.s3_client(), deadline)
        try:
            result = process_landing_file(runner, job, sql, log)
        finally:
            runner.clean_up()
        return result, athena_usage(runner.scanned, runner.queries)

    def query(self, sql: str, as_of: str | None = None) -> QueryResult:
        if as_of:
            # Athena reads Iceberg snapshots per table reference, in the SQL itself.
            raise SqlError(
                "on Athena, write the time travel into the SQL: FROM t FOR VERSION AS OF <snapshot id> "
                "or FOR TIMESTAMP AS OF TIMESTAMP '2026-11-30 09:00:00 UTC'"
            )
        athena = self.query_client()
        query_id, execution = self.finished(athena, sql, read_only=True)
        return _results(athena, query_id, _scanned(execution))

    def write_parquet(self, sql: str, location: str) -> int:
        # UNLOAD takes a SELECT: wrapping the query lets it start with WITH. The target must be empty.
        _, execution = self.finished(
            self.athena_client(),
            f"UNLOAD (SELECT * FROM (\n{sql}\n)) TO '{location.rstrip('/')}/' "
            "WITH (format = 'PARQUET', compression = 'SNAPPY')",
        )
        return _scanned(execution)

    def usage(self, scanned_bytes: Sequence[int], wall_seconds: float) -> EngineUsage:
        return athena_usage(scanned_bytes)


class AthenaQueryError(SqlError):
    """A query Athena failed or that ran out of time, with its last ``status``."""

    def __init__(self, message: str, status: dict[str, Any]):
        super().__init__(message)
        self.status = status


def _scanned(execution: dict[str, Any]) -> int:
    """The bytes a finished query scanned, what Athena bills."""
    return int(execution.get("Statistics", {}).get("DataScannedInBytes", 0))


def _results(athena: Any, query_id: str, scanned_bytes: int = 0) -> QueryResult:
    """A finished query's rows, each value converted from Athena's text to its column's type."""
    result = QueryResult([], [], scanned_bytes)
    types: list[str] = []
    for page in _pages(athena, query_id):
        data = page["ResultSet"]["Rows"]
        if not result.columns:
            info = page["ResultSet"]["ResultSetMetadata"]["ColumnInfo"]
            result.columns.extend(c["Name"] for c in info)
            types = [c["Type"].lower() for c in info]
            data = data[1:]  # the first row of a SELECT repeats the header
        for row in data:
            values = [cell.get("VarCharValue") for cell in row["Data"]]
            result.rows.append(tuple(None if v is None else CONVERT.get(t, str)(v) for v, t in zip(values, types)))
    return result


def _pages(athena: Any, query_id: str) -> Iterator[dict[str, Any]]:
    """Every page of a query's results."""
    request = {"QueryExecutionId": query_id}
    while True:
        page = athena.get_query_results(**request)
        yield page
        if not page.get("NextToken"):
            return
        request["NextToken"] = page["NextToken"]


class AthenaRunner(SqlRunner):
    """A SQL job's session on Athena. The landing file is copied alone into a scratch folder under
    the results location (an external table reads a whole folder), read through a temporary
    OpenCSVSerde table; the output is UNLOADed and checked through a temporary Parquet table.
    ``clean_up`` drops both tables and the copy. ``scanned``: bytes scanned per non-DDL query;
    ``queries``: the id of every statement run. Past ``deadline`` (the job's timeout, a monotonic
    time), the running query is stopped."""

    dialect = TRINO

    def __init__(self, engine: AthenaEngine, athena: Any, s3: Any, deadline: float | None = None):
        self.engine, self.athena, self.s3, self.deadline = engine, athena, s3, deadline
        self.tag = uuid.uuid4().hex[:12]
        self.scratch = f"{engine.output_location.rstrip('/')}/inputs/{self.tag}/"
        self.scanned: list[int] = []
        self.queries: list[str] = []
        self.tables: list[str] = []

    def _run(self, sql: str, ddl: bool = False) -> str:
        try:
            remaining = None if self.deadline is None else max(self.deadline - time.monotonic(), 0)
            query_id, execution = self.engine.finished(self.athena, sql, remaining)
        except AthenaQueryError as error:
            raise QueryFailed.of(str(error), _retryable(error.status, str(error))) from None
        except (ClientError, BotoCoreError) as error:  # throttled, or Athena unreachable
            raise QueryFailed.of(f"Athena: {type(error).__name__}: {error}", retryable=True) from None
        self.queries.append(query_id)
        if not ddl:
            self.scanned.append(_scanned(execution))
        return query_id

    def _table(self, kind: str) -> str:
        name = f"etl_tmp_{self.tag}_{kind}"
        self.tables.append(name)
        return name

    def raw_input(self, job: ProcessJob, width: int) -> str:
        if job.multiline:
            raise ContractError(
                f"{job.input_path}: Athena's OpenCSVSerde reads no quoted values spanning lines; "
                "run multiline datasets on a Spark engine"
            )
        bucket, key = _split(job.input_path)
        target_bucket, prefix = _split(self.scratch)
        self.s3.copy_object(
            Bucket=target_bucket, Key=prefix + key.rsplit("/", 1)[-1], CopySource={"Bucket": bucket, "Key": key}
        )
        name = self._table("raw")
        self._run(self.dialect.csv_table(name, width, self.scratch), ddl=True)
        return name

    def rows(self, query: str) -> list[dict[str, Any]]:
        result = _results(self.athena, self._run(query))
        return [dict(zip(result.columns, row)) for row in result.rows]

    def columns(self, query: str) -> list[tuple[str, str]]:
        query_id = self._run(f"SELECT * FROM (\n{query}\n) LIMIT 0")
        info = self.athena.get_query_results(QueryExecutionId=query_id)["ResultSet"]["ResultSetMetadata"]["ColumnInfo"]
        return [(c["Name"], c["Type"].lower()) for c in info]

    def execute(self, statement: str) -> None:
        self._run(statement, ddl=statement.startswith(("CREATE", "DROP")))

    def written(self, name: str, location: str, columns: Any) -> str:
        table = self._table(name)
        self._run(self.dialect.parquet_relation(table, location, columns), ddl=True)
        return table

    def clean_up(self) -> None:
        """The temporary tables dropped and the input copy deleted, whatever happened before."""
        for table in self.tables:
            try:
                self.engine.finished(self.athena, self.dialect.drop(table))
            except (SqlError, ClientError, BotoCoreError):
                pass  # a table left behind costs nothing; the build's outcome stands
        bucket, prefix = _split(self.scratch)
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                self.s3.delete_object(Bucket=bucket, Key=item["Key"])
