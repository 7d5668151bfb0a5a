"""The engagement x sales correlation report as one SQL text that DuckDB and Athena both run.

The table and the metrics come from the registry's report declaration (``Registry.report``), so a
new engagement column joins the report with no change here. Dialect differences bridged (DuckDB
locally, Athena engine 3 / Trino on AWS):

- lags join on day numbers (``date_diff('day', DATE '1970-01-01', date)``), because adding a
  column's worth of days to a DATE is spelled differently in the two engines;
- ``corr`` of a constant series is NaN in both; it is reported as NULL (guarded by ``var_pop``);
- string literals are cast to VARCHAR (Trino types them ``varchar(n)``), and ``date_trunc`` is
  cast to DATE (DuckDB returns a TIMESTAMP for a DATE, Trino a DATE).
"""

from __future__ import annotations

from collections.abc import Sequence

from etl_platform.contract.columns import normalize_column_name, quote_sql_identifier, quote_sql_literal
from etl_platform.datasets import REGISTRY, InputDataset

MAX_LAG_DAYS = 14
NUMERIC_TYPES = ("bigint", "double")
# The report's columns as (name, Spark type) pairs, for catalogs that store a schema (Glue).
REPORT_COLUMNS = [
    ("engagement_metric", "string"),
    ("sales_metric", "string"),
    ("correlation", "double"),  # Pearson, same day
    ("days", "bigint"),  # days with both values, same day
    ("best_lag_days", "bigint"),  # engagement leading sales by this many days gives the strongest |r|
    ("best_correlation", "double"),
    ("best_days", "bigint"),
]


def engagement_metrics(dataset: InputDataset = REGISTRY.dataset(REGISTRY.report.engagement_input)) -> list[str]:
    """The engagement input's numeric columns, named as in the joined table."""
    return [
        normalize_column_name(name)
        for name, type_ in dataset.columns
        if type_ in NUMERIC_TYPES and name != dataset.date_column
    ]


def _long(table: str, metrics: Sequence[str], label: str, value: str) -> str:
    """One row per (day, metric): the wide columns unpivoted with UNION ALL (both engines have it)."""
    return "\n    UNION ALL\n".join(
        f"    SELECT date_diff('day', DATE '1970-01-01', \"date\") AS day_number, "
        f"CAST({quote_sql_literal(metric)} AS VARCHAR) AS {label}, CAST({quote_sql_identifier(metric)} AS DOUBLE) AS {value} FROM {quote_sql_identifier(table)}"
        for metric in metrics
    )


def correlation_sql(
    table: str = REGISTRY.joined.name,
    engagement: Sequence[str] | None = None,
    sales: Sequence[str] = REGISTRY.report.sales_metrics,
    max_lag_days: int = MAX_LAG_DAYS,
) -> str:
    """Per engagement x sales metric: same-day Pearson r and days, and the lead (0..max days) with
    the strongest |r|. A lead of k pairs engagement on day d with sales on day d + k (calendar days)."""
    engagement = engagement_metrics() if engagement is None else list(engagement)
    lags = ", ".join(f"({lag})" for lag in range(max_lag_days + 1))
    return f"""WITH engagement AS (
{_long(table, engagement, "engagement_metric", "x")}
),
sales AS (
{_long(table, sales, "sales_metric", "y")}
),
lags AS (
    SELECT CAST(lag_days AS BIGINT) AS lag_days FROM (VALUES {lags}) AS t (lag_days)
),
by_lag AS (
    SELECT e.engagement_metric, s.sales_metric, l.lag_days,
           CASE WHEN var_pop(e.x) > 0 AND var_pop(s.y) > 0 THEN corr(e.x, s.y) END AS correlation,
           count(*) AS days
    FROM engagement e
    CROSS JOIN lags l
    JOIN sales s ON s.day_number = e.day_number + l.lag_days
    WHERE e.x IS NOT NULL AND s.y IS NOT NULL
    GROUP BY e.engagement_metric, s.sales_metric, l.lag_days
),
ranked AS (
    SELECT engagement_metric, sales_metric, lag_days, correlation, days,
           row_number() OVER (
               PARTITION BY engagement_metric, sales_metric ORDER BY abs(correlation) DESC NULLS LAST, lag_days
           ) AS strength_rank
    FROM by_lag
)
SELECT b.engagement_metric, b.sales_metric, z.correlation, z.days,
       b.lag_days AS best_lag_days, b.correlation AS best_correlation, b.days AS best_days
FROM ranked b
LEFT JOIN by_lag z
  ON z.engagement_metric = b.engagement_metric AND z.sales_metric = b.sales_metric AND z.lag_days = 0
WHERE b.strength_rank = 1
ORDER BY abs(b.correlation) DESC NULLS LAST, b.engagement_metric, b.sales_metric"""


def weekly_sql(
    table: str = REGISTRY.joined.name,
    engagement: str = REGISTRY.report.weekly[0],
    sales: str = REGISTRY.report.weekly[1],
) -> str:
    """Weekly totals (weeks start Monday in both engines) of full weeks only: a partial first or
    last week would show as a false dip."""
    return f"""SELECT CAST(date_trunc('week', "date") AS DATE) AS week,
       sum({quote_sql_identifier(engagement)}) AS {quote_sql_identifier(engagement)}, sum({quote_sql_identifier(sales)}) AS {quote_sql_identifier(sales)}
FROM {quote_sql_identifier(table)}
GROUP BY CAST(date_trunc('week', "date") AS DATE)
HAVING count(*) = 7
ORDER BY week"""
