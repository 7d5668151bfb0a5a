"""Gates on the correlation report: numbers a reader can trust, from enough days to mean something."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import dagster as dg

from etl_platform.settings import Settings, get_settings

# Below about a month of paired days a correlation is mostly noise.
DEFAULT_MIN_DAYS = Settings().report_min_days
# Floating-point rounding may put a perfect correlation a hair beyond 1; that is not an error.
TOLERANCE = 1e-9
EXAMPLES = 5

CORRELATIONS_IN_RANGE = "correlations_in_range"
ENOUGH_DAYS = "enough_days"


def min_days() -> int:
    return get_settings().report_min_days


def report_check_specs(asset: str) -> list[dg.AssetCheckSpec]:
    return [
        dg.AssetCheckSpec(
            CORRELATIONS_IN_RANGE,
            asset=asset,
            blocking=True,
            description="Every correlation is a number within [-1, 1] (NULL where a series is constant).",
        ),
        dg.AssetCheckSpec(
            ENOUGH_DAYS,
            asset=asset,
            blocking=True,
            description=f"Every metric pair has a row, computed from at least `ETL_REPORT_MIN_DAYS` days "
            f"(default {DEFAULT_MIN_DAYS}), same day and at its best lead.",
        ),
    ]


def _pair(row: Mapping[str, Any]) -> str:
    return f"{row['engagement_metric']} x {row['sales_metric']}"


def correlations_in_range(rows: Sequence[Mapping[str, Any]]) -> dg.AssetCheckResult:
    def bad(value: float | None) -> bool:
        return value is not None and (math.isnan(value) or abs(value) > 1 + TOLERANCE)

    failing = [r for r in rows if bad(r["correlation"]) or bad(r["best_correlation"])]
    undefined = [_pair(r) for r in rows if r["correlation"] is None or r["best_correlation"] is None]
    return dg.AssetCheckResult(
        check_name=CORRELATIONS_IN_RANGE,
        passed=not failing,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={
            "failing_pairs": len(failing),
            # As text: NaN is not JSON.
            "examples": dg.MetadataValue.json(
                [
                    {
                        "pair": _pair(r),
                        "correlation": str(r["correlation"]),
                        "best_correlation": str(r["best_correlation"]),
                    }
                    for r in failing[:EXAMPLES]
                ]
            ),
            "undefined_pairs": dg.MetadataValue.json(undefined),
        },
    )


def enough_days(
    rows: Sequence[Mapping[str, Any]], expected_pairs: Sequence[tuple[str, str]], required: int
) -> dg.AssetCheckResult:
    by_pair = {(r["engagement_metric"], r["sales_metric"]): r for r in rows}
    days = {
        pair: min(by_pair[pair]["days"] or 0, by_pair[pair]["best_days"] or 0) if pair in by_pair else 0
        for pair in expected_pairs
    }
    failing = sorted((n, f"{e} x {s}") for (e, s), n in days.items() if n < required)
    return dg.AssetCheckResult(
        check_name=ENOUGH_DAYS,
        passed=not failing,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={
            "min_days_required": required,
            "fewest_days": min(days.values(), default=0),
            "failing_pairs": len(failing),
            "examples": dg.MetadataValue.json([{"pair": pair, "days": n} for n, pair in failing[:EXAMPLES]]),
        },
    )
