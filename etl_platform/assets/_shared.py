"""What every table asset shares: ownership, retries, and write-audit-publish of a build to Iceberg."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace

import dagster as dg

from etl_platform.checks.history import row_count_change
from etl_platform.checks.settings import QualitySettings
from etl_platform.contract.checks import CheckPlan, RowCheck
from etl_platform.resources import Lake, LakeObject
from etl_platform.resources.catalog import BuildSource, TableError, TableSnapshot
from etl_platform.resources.script_run import ScriptRun
from etl_platform.settings import get_settings
from etl_platform.tables import DATA, Build, LakeTables, Published

OWNERS = ["team:data-engineering"]
# One group for the whole graph: Dagster's lineage view opens every group collapsed when there are
# several, so a newcomer would first see boxes, not the pipeline.
PIPELINE_GROUP = "etl_pipeline"
TABLE_KINDS = {"spark", "iceberg"}
# Spark and Glue steps fail transiently (lost executors, throttling, capacity); bad data does not
# retry (the runner raises ScriptFailed, not retryable, when the script blames its input).
SPARK_RETRY_POLICY = dg.RetryPolicy(
    max_retries=get_settings().spark_retries,
    delay=get_settings().spark_retry_delay_seconds,
    backoff=dg.Backoff.EXPONENTIAL,
    jitter=dg.Jitter.PLUS_MINUS,
)

TableResult = dg.MaterializeResult | dg.AssetCheckResult
STALE_TAG = "etl_platform/stale_build"  # on a run whose build was skipped as stale: the file it built


def table_pool(table: str) -> str:
    """One Dagster concurrency pool per table: with the project's ``default_limit: 1``, a second
    build of the same table waits for the first instead of racing it to publish."""
    return f"table_{table}"


def check_plan(
    settings: QualitySettings, row_checks: Sequence[RowCheck] = (), max_reject_share: float = 0.0
) -> CheckPlan:
    """What a table's script checks, with the thresholds of ``settings``; ``max_reject_share`` is the
    input dataset's tolerance of rejected rows (``InputDataset``)."""
    return CheckPlan(
        row_checks=tuple(row_checks),
        max_reject_share=max_reject_share,
        max_date_gap_days=settings.max_date_gap_days,
        earliest_date=settings.earliest_date.isoformat(),
        latest_date=settings.latest_date().isoformat(),
    )


def blocking_failures(checks: Sequence[dg.AssetCheckResult]) -> list[dg.AssetCheckResult]:
    return [c for c in checks if not c.passed and c.severity == dg.AssetCheckSeverity.ERROR]


def build_key_of(lake: Lake, location: str, staged_key: str, reported: str) -> str:
    """The build folder to publish: the one the script says it wrote (``output_path``), which is
    not the one staged for this attempt when the step reattached to an earlier attempt's Glue run;
    ``LakeTables.staged_files`` checks that it is one build folder of this table."""
    if reported.rstrip("/") == lake.uri(staged_key):
        return staged_key
    data = lake.uri(f"{location.rstrip('/')}/{DATA}") + "/"
    if not reported.startswith(data):
        raise TableError(f"the script wrote {reported}, which is not a build folder of {lake.uri(location)}")
    return f"{location.rstrip('/')}/{DATA}/{reported.rstrip('/')[len(data) :]}"


def publish_table(
    context: dg.AssetExecutionContext,
    tables: LakeTables,
    location: str,
    build_key: str,
    build: Build,
    checks: Sequence[dg.AssetCheckResult],
    allow_older: bool = False,
) -> tuple[dict[str, dg.MetadataValue], Published | None]:
    """Commit the audited build at ``build_key`` as the table's next snapshot, unless a blocking
    check failed (nothing is committed; the current snapshot stays) or a newer upload's snapshot
    is current (stale: nothing is committed either). After a commit, old snapshots are expired and
    orphaned build folders removed, per the retention settings."""
    table = context.asset_key.to_user_string()
    lake = tables.lake
    failed = [c.check_name for c in blocking_failures(checks) if c.check_name]
    if failed:
        current = tables.catalog.current(table)
        context.log.error(
            f"{table}: blocking checks failed ({', '.join(failed)}): {lake.uri(build_key)} is not published; "
            f"the current snapshot stays {current.version if current else 'none (never published)'}"
        )
        return {
            "published": dg.MetadataValue.bool(False),
            "staged_path": dg.MetadataValue.path(lake.uri(build_key)),
        }, None
    build = replace(build, checks_passed=tuple(sorted(c.check_name for c in checks if c.passed and c.check_name)))
    outcome = tables.publish(table, location, build_key, build, allow_older=allow_older)
    if outcome.snapshot is None:
        return {
            "published": dg.MetadataValue.bool(False),
            "staged_path": dg.MetadataValue.path(lake.uri(build_key)),
        }, outcome
    snapshot = outcome.snapshot
    left_out = f", {build.rejected_rows:,} rejected" if build.rejected_rows else ""
    retried = f" after {outcome.attempts - 1} concurrent commit(s)" if outcome.attempts > 1 else ""
    context.log.info(f"{table}: committed snapshot {snapshot.version} ({build.rows:,} rows{left_out}){retried}")
    try:
        expired, removed = tables.maintain(table, location)
    except Exception as error:  # the snapshot is committed; clean-up is retried after the next build
        context.log.warning(f"{table}: retention clean-up failed and will run again after the next build: {error}")
    else:
        if expired or removed:
            context.log.info(
                f"{table}: expired {len(expired)} old snapshot(s), removed {len(removed)} unreferenced build folder(s)"
            )
    return {
        "published": dg.MetadataValue.bool(True),
        "table_version": dg.MetadataValue.text(snapshot.version),
        "table_version_path": dg.MetadataValue.path(lake.uri(build_key)),
        "commit_attempts": dg.MetadataValue.int(outcome.attempts),
    }, outcome


def stale_message(context: dg.AssetExecutionContext, source: LakeObject, current: TableSnapshot, what: str) -> str:
    table = context.asset_key.to_user_string()
    theirs = current.source.describe() if current.source else "a newer input"
    return (
        f"{table}: {what}: {BuildSource.of(source).describe()} was uploaded before {theirs}, which the "
        f"current snapshot {current.version} was built from; the newer data stays published and {source.key} is kept "
        "(run it with allow_older: true in its config to publish it anyway)"
    )


def stale_failure(context: dg.AssetExecutionContext, source: LakeObject, current: TableSnapshot) -> dg.Failure:
    """A build that became stale while it ran: nothing was published. A failure, not a skip, as the
    step's Pipes session requires its materialisation; retrying would find it stale again."""
    context.instance.add_run_tags(context.run.run_id, {STALE_TAG: source.key})
    return dg.Failure(description=stale_message(context, source, current, "not published"), allow_retries=False)


def stale_build(
    context: dg.AssetExecutionContext, source: LakeObject, current: TableSnapshot
) -> Iterator[dg.AssetObservation | dg.AssetCheckResult]:
    """A build of an older upload than the current snapshot's, found before any Spark runs: the run
    says why in its log, in a run tag and in an observation on the asset (no materialisation, so
    nothing downstream runs), and the table's checks are re-stated for the snapshot that stays current."""
    message = stale_message(context, source, current, "skipped as stale")
    context.log.warning(message)
    context.instance.add_run_tags(context.run.run_id, {STALE_TAG: source.key})
    yield dg.AssetObservation(
        asset_key=context.asset_key,
        description=message,
        metadata={
            "stale_build": dg.MetadataValue.bool(True),
            "skipped_object": dg.MetadataValue.text(source.key),
            "current_source_object": dg.MetadataValue.text(current.source.key if current.source else ""),
            "current_snapshot": dg.MetadataValue.text(current.version),
        },
    )
    for key in context.selected_asset_check_keys:
        passed = key.name in current.checks_passed  # only advisory checks can fail on a published snapshot
        outcome = "passed" if passed else "did not pass"
        yield dg.AssetCheckResult(
            check_name=key.name,
            passed=passed,
            severity=dg.AssetCheckSeverity.ERROR if passed else dg.AssetCheckSeverity.WARN,
            metadata={
                "note": dg.MetadataValue.text(
                    f"{outcome} when run {current.run_id} built snapshot {current.version}; "
                    f"the build of {source.key} was stale; this snapshot stays current"
                ),
                "table_version": dg.MetadataValue.text(current.version),
            },
        )


@dataclass
class TableBuild:
    results: list[TableResult]
    checks: list[dg.AssetCheckResult]
    failed: list[dg.AssetCheckResult]
    rejected_rows: int
    stale_against: TableSnapshot | None = None


def table_results(
    context: dg.AssetExecutionContext,
    run: ScriptRun,
    extra_metadata: Mapping[str, dg.MetadataValue],
    tables: LakeTables,
    location: str,
    staged_key: str,
    settings: QualitySettings,
    build: Build,
    allow_older: bool = False,
) -> TableBuild:
    """The script's build (plus what only the orchestrator knows), its checks, and the publish
    decision they lead to. A build found stale when publishing yields its checks but no materialisation, so nothing
    downstream sees a change."""
    reported = run.build
    checks = run.check_results()
    # Against the current snapshot: a build that failed its audit is not a baseline.
    current = tables.catalog.current(context.asset_key.to_user_string())
    checks.append(
        row_count_change(
            context.asset_key, current.rows if current else None, reported.rows, settings.max_row_count_change
        )
    )
    rejected = reported.rejected_rows
    build_key = build_key_of(tables.lake, location, staged_key, reported.output_path)
    build = replace(build, rows=reported.rows, rejected_rows=rejected)
    published, outcome = publish_table(context, tables, location, build_key, build, checks, allow_older)
    failed = blocking_failures(checks)
    if outcome is not None and outcome.stale_against is not None:
        return TableBuild(
            results=list(checks),
            checks=checks,
            failed=failed,
            rejected_rows=rejected,
            stale_against=outcome.stale_against,
        )
    return TableBuild(
        results=[run.materialization(extra_metadata, published), *checks],
        checks=checks,
        failed=failed,
        rejected_rows=rejected,
    )
