"""Check results re-stated for a published version of a table, when Dagster's latest results would
otherwise speak of something else: after a rollback (the restored version's checks), and after a
refused file (whose run left every unrun check "execution failed" on an intact table).

Each result is pinned to the materialisation that recorded that version, so the UI shows it
against that version whatever the clock says (results of one second otherwise tie with it).
"""

from __future__ import annotations

from collections.abc import Iterable

import dagster as dg
from dagster._core.definitions.asset_checks.asset_check_evaluation import (  # not exported
    AssetCheckEvaluationTargetMaterializationData,
)

from etl_platform.resources.catalog import TableSnapshot


def _materialization_of(
    instance: dg.DagsterInstance, asset_key: dg.AssetKey, version: TableSnapshot
) -> AssetCheckEvaluationTargetMaterializationData | None:
    """The asset's latest materialisation, if it recorded ``version`` (the published one)."""
    records = instance.fetch_materializations(dg.AssetRecordsFilter(asset_key=asset_key), limit=1).records
    if not records or records[0].asset_materialization is None:
        return None
    recorded = records[0].asset_materialization.metadata.get("table_version")
    if recorded is None or recorded.value != version.version:
        return None
    return AssetCheckEvaluationTargetMaterializationData(
        storage_id=records[0].storage_id, run_id=records[0].run_id, timestamp=records[0].timestamp
    )


def restate_checks(
    instance: dg.DagsterInstance, asset_key: dg.AssetKey, version: TableSnapshot, checks: Iterable[str], note: str
) -> None:
    """Record, for each of ``checks``, what ``version``'s build found: passed, or (as only advisory
    checks can fail on a published version) a warning. Nothing is recorded when the latest
    materialisation is not that version's."""
    target = _materialization_of(instance, asset_key, version)
    if target is None:
        return
    for check in checks:
        passed = check in version.checks_passed
        outcome = "passed" if passed else "did not pass"
        instance.report_runless_asset_event(
            dg.AssetCheckEvaluation(
                asset_key=asset_key,
                check_name=check,
                passed=passed,
                severity=dg.AssetCheckSeverity.ERROR if passed else dg.AssetCheckSeverity.WARN,
                target_materialization_data=target,
                metadata={
                    "note": dg.MetadataValue.text(
                        f"{outcome} when run {version.run_id} built snapshot {version.version}; {note}"
                    ),
                    "table_version": dg.MetadataValue.text(version.version),
                    **({"rejected_rows": dg.MetadataValue.int(version.rejected_rows)} if version.rejected_rows else {}),
                },
            )
        )
