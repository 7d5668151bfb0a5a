"""What ``etl-platform report`` shows: the strongest relationships and where the charts are."""

from __future__ import annotations

from etl_platform.contract.columns import quote_sql_identifier
from etl_platform.datasets import REGISTRY, CorrelationReport
from etl_platform.errors import UserError
from etl_platform.resources import Lake, QueryResult, SqlEngine, TableCatalog

HEATMAP = "correlation_heatmap.png"
WEEKLY = "weekly_engagement_vs_sales.png"


class ReportNotBuiltError(UserError):
    """The report table is not in the catalog yet."""


def chart_key(build_key: str, name: str) -> str:
    """Inside the build folder, so a chart is kept and removed with the snapshot it pictures; it is
    never committed as a data file (``_`` folders are not)."""
    return f"{build_key}/_charts/{name}"


def top_correlations(
    sql: SqlEngine, catalog: TableCatalog, limit: int, report: CorrelationReport = REGISTRY.report
) -> QueryResult:
    if catalog.current(report.table) is None:
        raise ReportNotBuiltError(f"no {report.table} table yet: run etl-platform demo first")
    return sql.query(
        "SELECT engagement_metric, sales_metric, round(best_correlation, 3) AS r, best_lag_days AS lead_days, "
        f"best_days AS days, round(correlation, 3) AS same_day_r FROM {quote_sql_identifier(report.table)} "
        f"ORDER BY abs(best_correlation) DESC NULLS LAST, engagement_metric, sales_metric LIMIT {int(limit)}"
    )


def chart_paths(lake: Lake, catalog: TableCatalog, report: CorrelationReport = REGISTRY.report) -> list[str]:
    """The charts of the current snapshot."""
    current = catalog.current(report.table)
    if current is None:
        return []
    keys = [chart_key(current.build_key, name) for name in (HEATMAP, WEEKLY)]
    return [lake.uri(key) for key in keys if lake.stat(key) is not None]
