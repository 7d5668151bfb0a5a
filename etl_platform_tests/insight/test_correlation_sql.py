"""The report's SQL on DuckDB: the same numbers as numpy on the QuickSight data, lags in calendar days."""

from __future__ import annotations

import datetime as dt

import lake_csv
import lake_types
import numpy as np
import pyarrow.parquet as pq
import pytest
from join_marketing_and_sales_data import join_daily
from process_marketing_data import daily_marketing
from process_sales_data import daily_sales

from etl_platform.contract.columns import ExpectedColumn
from etl_platform.datasets import MARKETING, REGISTRY, SALES, InputDataset
from etl_platform.insight.correlation_sql import (
    MAX_LAG_DAYS,
    correlation_sql,
    engagement_metrics,
    weekly_sql,
)
from etl_platform.resources import DuckDBEngine, LocalLake
from etl_platform.tables import Build, LakeTables
from etl_platform_tests.helpers import QUICKSIGHT_MARKETING, QUICKSIGHT_SALES, lake_catalog
from etl_platform_tests.insight.synthetic import publish_joined, random_days


def _rows(engine: DuckDBEngine, sql: str) -> dict[tuple[str, str], dict]:
    result = engine.query(sql)
    return {(r[0], r[1]): dict(zip(result.columns, r)) for r in result.rows}


def numpy_report(
    columns: dict[str, list], engagement: list[str], sales: list[str], max_lag: int
) -> dict[tuple[str, str], dict]:
    """The definition, computed independently: pair day d's engagement with day d + lag's sales."""
    position = {day: i for i, day in enumerate(columns["date"])}
    report = {}
    for e in engagement:
        for s in sales:
            by_lag = {}
            for lag in range(max_lag + 1):
                pairs = [
                    (i, position[d + dt.timedelta(days=lag)])
                    for i, d in enumerate(columns["date"])
                    if d + dt.timedelta(days=lag) in position
                ]
                x = np.array([columns[e][i] for i, _ in pairs], dtype=float)
                y = np.array([columns[s][j] for _, j in pairs], dtype=float)
                r = float(np.corrcoef(x, y)[0, 1]) if x.std() > 0 and y.std() > 0 else None
                by_lag[lag] = (r, len(pairs))
            best = min(by_lag, key=lambda lag: (-abs(by_lag[lag][0] or 0), lag))
            report[(e, s)] = {
                "correlation": by_lag[0][0],
                "days": by_lag[0][1],
                "best_lag_days": best,
                "best_correlation": by_lag[best][0],
                "best_days": by_lag[best][1],
            }
    return report


def _daily(spark, path: str, dataset: InputDataset, transform, out: str):
    """One processed table, written as the pipeline writes it (each pass observes its own metrics)."""
    expected = [ExpectedColumn(name, type_) for name, type_ in dataset.columns]
    typed = lake_types.apply_types(
        lake_csv.read_landing_csv(spark, path), expected, dataset.date_format, [dataset.date_column], path
    )
    transform(typed.frame).write.parquet(out)
    return spark.read.parquet(out)


def test_sql_equals_numpy_on_the_quicksight_joined_table(spark, quicksight_dir, tmp_path) -> None:
    joined = join_daily(
        {
            "sales_daily": _daily(
                spark, str(quicksight_dir / QUICKSIGHT_SALES), SALES, daily_sales, str(tmp_path / "s")
            ),
            "marketing_daily": _daily(
                spark, str(quicksight_dir / QUICKSIGHT_MARKETING), MARKETING, daily_marketing, str(tmp_path / "m")
            ),
        }
    )
    # Spark's files in a build folder, committed to the Iceberg table as the pipeline commits them.
    lake = LocalLake(root=str(tmp_path / "lake"))
    catalog = lake_catalog(tmp_path / "lake")
    tables = LakeTables(lake, catalog)
    staged = tables.stage(REGISTRY.joined.table_location, "run-1")
    joined.write.parquet(lake.uri(staged))
    columns = pq.read_table(lake.uri(staged)).sort_by("date").to_pydict()
    assert len(columns["date"]) == 1458
    tables.publish(REGISTRY.joined.name, REGISTRY.joined.table_location, staged, Build(run_id="run-1", rows=1458))
    engine = DuckDBEngine(catalog=catalog)

    actual = _rows(engine, correlation_sql())
    expected = numpy_report(columns, engagement_metrics(), list(REGISTRY.report.sales_metrics), MAX_LAG_DAYS)
    assert set(actual) == set(expected) and len(actual) == 17 * 4
    for pair, want in expected.items():
        got = actual[pair]
        assert (got["days"], got["best_lag_days"], got["best_days"]) == (
            want["days"],
            want["best_lag_days"],
            want["best_days"],
        ), pair
        assert got["correlation"] == pytest.approx(want["correlation"], abs=1e-9), pair
        assert got["best_correlation"] == pytest.approx(want["best_correlation"], abs=1e-9), pair
    # Not a vacuous comparison: the data has strong relationships, and some at a lead.
    assert max(abs(r["best_correlation"]) for r in actual.values()) > 0.85
    assert any(r["best_lag_days"] > 0 for r in actual.values())


def test_a_seven_day_lead_is_found_in_calendar_days_despite_gaps(tmp_path) -> None:
    columns = random_days(400)
    rng = np.random.default_rng(1)
    visits = columns["website_visits"]
    # Opportunities follow website visits a week later; the other columns stay unrelated noise.
    columns["opportunities"] = [3 * visits[i - 7] + int(rng.integers(0, 500)) if i >= 7 else 0 for i in range(400)]
    keep = [i for i in range(400) if i % 9 != 4]  # missing days: a row offset is not a day offset
    columns = {name: [values[i] for i in keep] for name, values in columns.items()}
    rows = _rows(publish_joined(tmp_path, columns), correlation_sql())

    lead = rows[("website_visits", "opportunities")]
    assert lead["best_lag_days"] == 7 and lead["best_correlation"] > 0.95
    assert abs(lead["correlation"]) < 0.2  # same day: nothing
    assert lead["days"] == len(keep) and lead["best_days"] < lead["days"]
    assert all(
        abs(r["best_correlation"]) < 0.3 for pair, r in rows.items() if pair != ("website_visits", "opportunities")
    )


def test_a_constant_series_has_no_correlation_rather_than_nan(tmp_path) -> None:
    columns = random_days(60)
    columns["paid_conversion"] = [5] * 60
    rows = _rows(publish_joined(tmp_path, columns), correlation_sql())
    constant = rows[("paid_conversion", "opportunities")]
    assert constant["correlation"] is None and constant["best_correlation"] is None and constant["days"] == 60


def test_engagement_metrics_are_the_marketing_datasets_numeric_columns() -> None:
    metrics = engagement_metrics()
    assert len(metrics) == 17 and {"website_visits", "mobile_uniques", "new_visitors_cpc", "free_sign_up"} <= set(
        metrics
    )
    assert "date" not in metrics and "events" not in metrics
    wider = InputDataset(**{**MARKETING.__dict__, "columns": (*MARKETING.columns, ("Podcast Listens", "bigint"))})
    assert "podcast_listens" in engagement_metrics(wider)
    assert '"podcast_listens"' in correlation_sql(engagement=engagement_metrics(wider))
    assert set(REGISTRY.report.sales_metrics) <= set(SALES.column_lineage())  # columns sales_daily really has


def test_weekly_totals_keep_full_weeks_only(tmp_path) -> None:
    columns = random_days(24)  # Friday 2016-01-01 .. Sunday 2016-01-24: two full weeks in between
    result = publish_joined(tmp_path, columns).query(weekly_sql())
    assert result.columns == ["week", "website_visits", "forecasted_lead_revenue"]
    assert [r[0] for r in result.rows] == [dt.date(2016, 1, 4), dt.date(2016, 1, 11), dt.date(2016, 1, 18)]
    assert result.rows[0][1:] == (sum(columns["website_visits"][3:10]), sum(columns["forecasted_lead_revenue"][3:10]))
    assert REGISTRY.joined.name in weekly_sql()
