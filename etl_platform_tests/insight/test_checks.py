"""The report's gates pass on sound numbers and fail on impossible ones or too few days."""

from __future__ import annotations

import dagster as dg

from etl_platform.insight.checks import (
    DEFAULT_MIN_DAYS,
    correlations_in_range,
    enough_days,
    min_days,
    report_check_specs,
)

PAIRS = [("website_visits", "opportunities"), ("mobile_uniques", "opportunities")]


def _row(engagement: str, r: float | None, days: int = 100, best: float | None = None, best_days: int = 90) -> dict:
    return {
        "engagement_metric": engagement,
        "sales_metric": "opportunities",
        "correlation": r,
        "days": days,
        "best_lag_days": 3,
        "best_correlation": r if best is None else best,
        "best_days": best_days,
    }


def test_correlations_within_range_pass_with_constant_series_listed() -> None:
    result = correlations_in_range([_row("website_visits", 0.8), _row("mobile_uniques", None), _row("x", -1.0 - 1e-12)])
    assert result.passed and result.severity == dg.AssetCheckSeverity.ERROR
    assert result.metadata["undefined_pairs"].value == ["mobile_uniques x opportunities"]


def test_correlations_out_of_range_or_nan_fail_with_examples() -> None:
    result = correlations_in_range(
        [_row("website_visits", 0.8, best=1.2), _row("mobile_uniques", float("nan")), _row("ok", 0.1)]
    )
    assert not result.passed
    assert result.metadata["failing_pairs"].value == 2
    assert result.metadata["examples"].value == [
        {"pair": "website_visits x opportunities", "correlation": "0.8", "best_correlation": "1.2"},
        {"pair": "mobile_uniques x opportunities", "correlation": "nan", "best_correlation": "nan"},
    ]


def test_enough_days_passes_at_the_threshold() -> None:
    rows = [_row("website_visits", 0.5, days=30, best_days=30), _row("mobile_uniques", 0.5)]
    assert enough_days(rows, PAIRS, 30).passed


def test_too_few_days_at_the_best_lead_fail() -> None:
    result = enough_days([_row("website_visits", 0.5, days=40, best_days=29), _row("mobile_uniques", 0.5)], PAIRS, 30)
    assert not result.passed
    assert result.metadata["fewest_days"].value == 29
    assert result.metadata["examples"].value == [{"pair": "website_visits x opportunities", "days": 29}]


def test_a_missing_pair_counts_as_no_days() -> None:
    result = enough_days([_row("website_visits", 0.5)], PAIRS, 30)
    assert not result.passed and result.metadata["examples"].value == [
        {"pair": "mobile_uniques x opportunities", "days": 0}
    ]


def test_threshold_from_the_environment(monkeypatch) -> None:
    monkeypatch.delenv("ETL_REPORT_MIN_DAYS", raising=False)
    assert min_days() == DEFAULT_MIN_DAYS == 30
    monkeypatch.setenv("ETL_REPORT_MIN_DAYS", "90")
    assert min_days() == 90


def test_both_checks_are_blocking() -> None:
    specs = report_check_specs("engagement_revenue_correlation")
    assert [(s.name, s.blocking) for s in specs] == [("correlations_in_range", True), ("enough_days", True)]
