"""A refused input: one clear step failure, and the table's checks left telling the truth.

A refused file fails its step with ``dg.Failure`` (description and metadata: the file, the line,
the reason, the quarantine report), so the UI shows the cause instead of a stack trace. Dagster
plans every check of the asset when the run starts and, once the run has failed, shows each one
that reported nothing as "execution failed" on the asset, which reads as if the published table
had failed all of them. Dagster has no way to mark a planned check as not run (dagster issue
#28461), so each such check is re-stated for what the asset's overview is about: the published
version, still current, and what its build found (as a rollback records it, with a note saying
the refused file was not checked). Checks the script did evaluate before failing keep their
real result.
"""

from __future__ import annotations

from collections.abc import Sequence

import dagster as dg

from etl_platform.checks.restate import restate_checks
from etl_platform.contract.checks import PARSE_REJECTS
from etl_platform.resources import Lake, LakeObject, TableCatalog


# The scripts name the position of a problem as "line N" in their one-line errors.
def refused_input(lake: Lake, source: LakeObject, reason: str, report_key: str, line: int | None = None) -> dg.Failure:
    """The step's failure for a refused file: why, where its report is, and the line at fault if known."""
    metadata: dict[str, dg.MetadataValue] = {
        "file": dg.MetadataValue.path(lake.uri(source.key)),
        "reason": dg.MetadataValue.text(reason),
        "quarantine_report": dg.MetadataValue.path(lake.uri(report_key)),
    }
    if line is not None:
        metadata["line"] = dg.MetadataValue.int(line)
    return dg.Failure(
        description=f"{reason} (quarantined: {lake.uri(report_key)})",
        metadata=metadata,
        allow_retries=False,
    )


def audit_failure(source: LakeObject, failed: Sequence[dg.AssetCheckResult]) -> tuple[str, int | None]:
    """One line for a build its blocking checks refused: which checks, and the first rejected row
    (its line and reason) when rows were rejected; and that row's line."""
    reason = f"{source.key}: blocking checks failed: {', '.join(c.check_name for c in failed if c.check_name)}"
    rejects = next((c for c in failed if c.check_name == PARSE_REJECTS.name), None)
    examples = rejects.metadata["examples"].value if rejects and "examples" in rejects.metadata else None
    if rejects and isinstance(examples, list) and examples:
        first = examples[0]
        count = rejects.metadata["rejected_rows"].value
        reason += f"; {count} row(s) rejected, the first at line {first.get('_line')}: {first.get('_reason')}"
        return reason, first.get("_line")
    return reason, None


def restate_unrun_checks(context: dg.AssetExecutionContext, catalog: TableCatalog, source: LakeObject) -> None:
    """Re-state, for each check of this run that never ran, the current snapshot's outcome."""
    current = catalog.current(context.asset_key.to_user_string())
    if current is None:  # nothing published: there is no table to speak for
        return
    planned = list(context.selected_asset_check_keys)
    latest = context.instance.event_log_storage.get_latest_asset_check_execution_by_key(planned)
    unrun = [
        key.name
        for key in planned
        if key in latest
        and latest[key].run_id == context.run.run_id
        and latest[key].status.value == "PLANNED"  # the record's status enum is not exported
    ]
    note = f"not run on {source.key}, which was refused (run {context.run.run_id}); this version is still current"
    restate_checks(context.instance, context.asset_key, current, unrun, note)
