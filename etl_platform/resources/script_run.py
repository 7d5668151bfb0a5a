"""A finished Spark script run as Dagster records it: the one place where the records a script
reports (``etl_platform.contract.report``) become a materialisation, check results, or a step failure."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import dagster as dg

from etl_platform.contract.report import BuildReport, CheckOutcome, FailureKind, ScriptFailure, ScriptResult


def check_result(outcome: CheckOutcome, asset_key: dg.AssetKey | None = None) -> dg.AssetCheckResult:
    """A blocking check fails as an error, an advisory one as a warning."""
    return dg.AssetCheckResult(
        asset_key=asset_key,
        check_name=outcome.name,
        passed=outcome.passed,
        severity=dg.AssetCheckSeverity.ERROR if outcome.blocking else dg.AssetCheckSeverity.WARN,
        metadata=dict(outcome.metadata),
    )


def build_metadata(build: BuildReport) -> dict[str, dg.MetadataValue]:
    """What the UI shows of a written table: rows, schema, where, and what it was read from."""
    schema = dg.TableSchema(
        columns=[
            dg.TableColumn(c.name, c.type, constraints=dg.TableColumnConstraints(nullable=c.nullable))
            for c in build.columns
        ]
    )
    metadata: dict[str, dg.MetadataValue] = {
        "dagster/row_count": dg.MetadataValue.int(build.rows),
        "dagster/column_schema": dg.MetadataValue.table_schema(schema),
        "output_path": dg.MetadataValue.path(build.output_path),
    }
    if build.input_rows is not None:
        metadata["input_rows"] = dg.MetadataValue.int(build.input_rows)
        metadata["rejected_rows"] = dg.MetadataValue.int(build.rejected_rows)
    if build.inputs:
        metadata["inputs"] = dg.MetadataValue.json({table: list(files) for table, files in build.inputs.items()})
    if build.lineage:
        lineage = dg.TableColumnLineage(
            deps_by_column={
                column: [dg.TableColumnDep(asset_key=dg.AssetKey(s.table), column_name=s.column) for s in sources]
                for column, sources in build.lineage.items()
            }
        )
        metadata["dagster/column_lineage"] = dg.MetadataValue.column_lineage(lineage)
    return metadata


@dataclass(frozen=True)
class ScriptRun:
    """A script run that succeeded: what it reported, and where it ran (``metadata``: e.g. the Glue
    job run and its console link)."""

    result: ScriptResult
    metadata: Mapping[str, dg.MetadataValue] = field(default_factory=dict)

    @property
    def build(self) -> BuildReport:
        if self.result.build is None:
            raise dg.Failure(description="the script succeeded but reported no table it built", allow_retries=False)
        return self.result.build

    def check_results(self) -> list[dg.AssetCheckResult]:
        return [check_result(outcome) for outcome in self.result.checks]

    def materialization(self, *extra: Mapping[str, dg.MetadataValue]) -> dg.MaterializeResult:
        """The build's metadata, where it ran, then ``extra`` (later keys win)."""
        metadata: dict[str, dg.MetadataValue] = {**build_metadata(self.build), **self.metadata}
        for more in extra:
            metadata.update(more)
        return dg.MaterializeResult(metadata=metadata)


class ScriptFailed(dg.Failure):
    """A script run that failed; retried unless the script said its input is at fault."""

    def __init__(self, description: str, failure: ScriptFailure):
        super().__init__(description=description, allow_retries=failure.retryable)
        self.failure = failure


def script_failed(
    context: dg.AssetExecutionContext, script: str, result: ScriptResult, died: str, description: str | None = None
) -> ScriptFailed:
    """The step failure of a failed run: the script's own failure record, or, if it died before it
    could report one, ``died`` (its exit, say), retryable. ``description`` defaults to the script's words.

    Checks the script reported before failing (e.g. ``raw_schema`` naming missing columns) still
    belong in the UI. Events logged from a failing step are dropped with it, so they go to the
    instance directly, tagged with this run.
    """
    for outcome in result.checks:
        checked = check_result(outcome, context.asset_key)
        context.instance.report_runless_asset_event(
            dg.AssetCheckEvaluation(
                asset_key=context.asset_key,
                check_name=outcome.name,
                passed=checked.passed,
                severity=checked.severity,
                metadata={**checked.metadata, "run_id": dg.MetadataValue.text(context.run.run_id)},
            )
        )
    failure = result.failure or ScriptFailure(died, FailureKind.RETRYABLE)
    return ScriptFailed(description or f"{script} failed: {failure.message}", failure)
