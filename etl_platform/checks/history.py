"""The one check that needs history: row count versus the previous build, from the Dagster instance."""

from __future__ import annotations

import dagster as dg

from etl_platform.checks.specs import ROW_COUNT_CHANGE


def previous_row_count(context: dg.AssetExecutionContext) -> int | None:
    """Row count of the asset's latest materialisation before this one (None on the first build)."""
    event = context.instance.get_latest_materialization_event(context.asset_key)
    if event is None or event.asset_materialization is None:
        return None
    value = event.asset_materialization.metadata.get("dagster/row_count")
    return int(value.value) if value is not None else None


def row_count_change(asset: dg.AssetKey, previous: int | None, rows: int, max_change: float) -> dg.AssetCheckResult:
    change = None if not previous else abs(rows - previous) / previous
    passed = previous is None or (change is not None and change <= max_change) or (previous == 0 and rows == 0)
    return dg.AssetCheckResult(
        asset_key=asset,
        check_name=ROW_COUNT_CHANGE.name,
        passed=passed,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "previous_rows": previous if previous is not None else dg.MetadataValue.null(),
            "rows": rows,
            "change": round(change, 6) if change is not None else dg.MetadataValue.null(),
            "max_change": max_change,
        },
    )
