"""The one check that needs history: row count versus the version currently published."""

from __future__ import annotations

import dagster as dg

from etl_platform.contract.checks import ROW_COUNT_CHANGE


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
