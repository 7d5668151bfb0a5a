"""What every table asset shares: ownership, retries, and write-audit-publish of a build."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import dagster as dg

from etl_platform.checks.history import row_count_change
from etl_platform.checks.settings import QualitySettings
from etl_platform.resources import Lake, SqlEngine
from etl_platform.versions import TableVersions, catalog_follows, retention

OWNERS = ["team:data-engineering"]
# One group for the whole graph: Dagster's lineage view opens every group collapsed when there are
# several, so a newcomer would first see boxes, not the pipeline.
PIPELINE_GROUP = "etl_pipeline"
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


def table_pool(table: str) -> str:
    """One Dagster concurrency pool per table: with the project's ``default_limit: 1``, a second
    build of the same table waits for the first instead of racing it to publish."""
    return f"table_{table}"


def blocking_failures(checks: Sequence[dg.AssetCheckResult]) -> list[dg.AssetCheckResult]:
    return [c for c in checks if not c.passed and c.severity == dg.AssetCheckSeverity.ERROR]


def publish_table(
    context: dg.AssetExecutionContext,
    lake: Lake,
    sql: SqlEngine,
    location: str,
    staged_key: str,
    rows: int,
    columns: list[tuple[str, str]],
    checks: Sequence[dg.AssetCheckResult],
    rejected_rows: int = 0,
) -> dict[str, dg.MetadataValue]:
    """Publish the audited build at ``staged_key`` unless a blocking check failed.

    Publishing moves the table's pointer, then the SQL catalog, then prunes versions beyond the
    retention; a failed audit leaves the previous version current everywhere. ``rejected_rows``
    (landing rows the build left out) is recorded with the version and in the catalog.
    """
    table = context.asset_key.to_user_string()
    versions = TableVersions(lake, location)
    failed = [c.check_name for c in blocking_failures(checks)]
    if failed:
        current = versions.current()
        context.log.error(
            f"{table}: blocking checks failed ({', '.join(failed)}): {lake.uri(staged_key)} is not published; "
            f"the current version stays {current.version if current else 'none (never published)'}"
        )
        return {"published": dg.MetadataValue.bool(False), "staged_path": dg.MetadataValue.path(lake.uri(staged_key))}
    passed = tuple(sorted(c.check_name for c in checks if c.passed))
    version = versions.publish(
        staged_key, context.run.run_id, rows, passed, tuple(columns), rejected_rows=rejected_rows,
        follow=catalog_follows(sql, lake, table),
    )  # fmt: skip
    removed = versions.prune(retention())
    left_out = f", {rejected_rows:,} rejected" if rejected_rows else ""
    context.log.info(
        f"{table}: published version {version.version} ({rows:,} rows{left_out}) and registered it in the catalog"
        + (f"; removed {len(removed)} old version(s)" if removed else "")
    )
    return {
        "published": dg.MetadataValue.bool(True),
        "table_version": dg.MetadataValue.text(version.version),
        "table_version_path": dg.MetadataValue.path(lake.uri(version.key)),
    }


@dataclass
class TableBuild:
    results: list[TableResult]
    checks: list[dg.AssetCheckResult]
    failed: list[dg.AssetCheckResult]
    rejected_rows: int


def table_results(
    context: dg.AssetExecutionContext,
    invocation: dg.PipesClientCompletedInvocation,
    extra_metadata: Mapping[str, dg.MetadataValue],
    lake: Lake,
    sql: SqlEngine,
    location: str,
    staged_key: str,
    settings: QualitySettings,
) -> TableBuild:
    """The script's materialisation (plus what only the orchestrator knows), its checks, and the
    publish decision they lead to."""
    reported = list(invocation.get_results())
    (materialization,) = [r for r in reported if isinstance(r, dg.MaterializeResult)]
    rows = int(materialization.metadata["dagster/row_count"].value)  # type: ignore[arg-type]
    checks = [r for r in reported if isinstance(r, dg.AssetCheckResult)]
    # Against the published version: a build that failed its audit is not a baseline.
    current = TableVersions(lake, location).current()
    checks.append(row_count_change(context.asset_key, current.rows if current else None, rows, settings.max_row_count_change))
    schema = materialization.metadata["dagster/column_schema"].value
    columns = [(column.name, column.type) for column in schema.columns]  # type: ignore[union-attr]
    reported_rejects = materialization.metadata.get("rejected_rows")
    rejected = int(reported_rejects.value) if reported_rejects is not None else 0  # type: ignore[arg-type]
    published = publish_table(context, lake, sql, location, staged_key, rows, columns, checks, rejected)
    metadata = {**materialization.metadata, **extra_metadata, **published}
    return TableBuild(
        results=[dg.MaterializeResult(metadata=metadata), *checks],
        checks=checks,
        failed=blocking_failures(checks),
        rejected_rows=rejected,
    )
