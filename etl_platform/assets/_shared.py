"""What every table asset shares: ownership, retries, and turning a script's report into results."""

from __future__ import annotations

import os
from collections.abc import Mapping

import dagster as dg

from etl_platform.checks.history import previous_row_count, row_count_change
from etl_platform.checks.settings import QualitySettings
from etl_platform.resources import SqlEngine

OWNERS = ["team:data-engineering"]
TABLE_KINDS = {"spark", "parquet"}
# Spark and Glue steps fail transiently (lost executors, throttling, capacity); bad data does not
# retry (the runner raises Failure(allow_retries=False) for it).
SPARK_RETRY_POLICY = dg.RetryPolicy(
    max_retries=int(os.environ.get("ETL_SPARK_RETRIES", "3")),
    delay=float(os.environ.get("ETL_SPARK_RETRY_DELAY_SECONDS", "15")),
    backoff=dg.Backoff.EXPONENTIAL,
    jitter=dg.Jitter.PLUS_MINUS,
)

TableResult = dg.MaterializeResult | dg.AssetCheckResult


def table_results(
    context: dg.AssetExecutionContext,
    invocation: dg.PipesClientCompletedInvocation,
    extra_metadata: Mapping[str, dg.MetadataValue],
    sql: SqlEngine,
    location: str,
    settings: QualitySettings,
) -> list[TableResult]:
    """The script's materialisation (plus what only the orchestrator knows) and check results.

    The table is registered in the SQL catalog only when every blocking check passed, so analysts
    never query a build that failed its gates.
    """
    reported = list(invocation.get_results())
    (materialization,) = [r for r in reported if isinstance(r, dg.MaterializeResult)]
    rows = int(materialization.metadata["dagster/row_count"].value)  # type: ignore[arg-type]
    checks = [r for r in reported if isinstance(r, dg.AssetCheckResult)]
    checks.append(row_count_change(context.asset_key, previous_row_count(context), rows, settings.max_row_count_change))
    failed = [c.check_name for c in checks if not c.passed and c.severity == dg.AssetCheckSeverity.ERROR]
    table = context.asset_key.to_user_string()
    if failed:
        context.log.error(f"{table}: blocking checks failed ({', '.join(failed)}); its catalog entry is not updated")
    else:
        schema = materialization.metadata["dagster/column_schema"].value
        columns = [(column.name, column.type) for column in schema.columns]  # type: ignore[union-attr]
        sql.register_table(table, location, columns, rows, context.run.run_id)
        context.log.info(f"{table}: {rows} rows registered in the catalog")
    return [dg.MaterializeResult(metadata={**materialization.metadata, **extra_metadata}), *checks]
