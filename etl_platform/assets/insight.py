"""The business answer: does engagement move with revenue? A table the SQL engine computes, with charts.

Unlike the Spark-built tables, this one is computed where the data is queried (DuckDB locally,
Athena on AWS) from one SQL text, written as snappy Parquet into a build folder, audited and
committed to its Iceberg table like the others. What it correlates is the registry's report
declaration (``Registry.report``).
"""

import hashlib
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg

from etl_platform.assets._shared import OWNERS, PIPELINE_GROUP, publish_table, table_pool
from etl_platform.automation.cadence import Cycle
from etl_platform.datasets import CorrelationReport, Registry
from etl_platform.insight import charts
from etl_platform.insight.checks import correlations_in_range, enough_days, min_days, report_check_specs
from etl_platform.insight.correlation_sql import REPORT_COLUMNS, correlation_sql, engagement_metrics, weekly_sql
from etl_platform.insight.report import HEATMAP, WEEKLY, chart_key
from etl_platform.resources import Lake, SqlEngine, TableCatalog
from etl_platform.resources.catalog import TableSnapshot
from etl_platform.resources.sql import SqlError
from etl_platform.tables import Build, LakeTables

TOP = 10

log = logging.getLogger(__name__)


def chart_titles(report: CorrelationReport) -> dict[str, str]:
    """Each chart's file name and title."""
    engagement, sales = report.weekly
    return {HEATMAP: "Correlation at the strongest lead", WEEKLY: f"Weekly {engagement} vs. {sales}"}


def column_lineage(joined: str, engagement: Sequence[str], sales: Sequence[str]) -> dg.TableColumnLineage:
    def deps(columns: Sequence[str]) -> list[dg.TableColumnDep]:
        return [dg.TableColumnDep(asset_key=dg.AssetKey(joined), column_name=c) for c in columns]

    computed = deps(["date", *engagement, *sales])
    return dg.TableColumnLineage(
        deps_by_column={
            "engagement_metric": deps(engagement),
            "sales_metric": deps(sales),
            **{name: computed for name, _ in REPORT_COLUMNS if name not in ("engagement_metric", "sales_metric")},
        }
    )


def top_markdown(rows: Sequence[Mapping[str, Any]], limit: int = TOP) -> str:
    strongest = sorted(
        (r for r in rows if r["best_correlation"] is not None), key=lambda r: -abs(r["best_correlation"])
    )
    lines = [
        "| engagement | sales | r (best lead) | lead (days) | same-day r | days |",
        "|---|---|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {r['engagement_metric']} | {r['sales_metric']} | {r['best_correlation']:+.3f} | {r['best_lag_days']} | "
        f"{'n/a' if r['correlation'] is None else format(r['correlation'], '+.3f')} | {r['days']} |"
        for r in strongest[:limit]
    ]
    return "\n".join(lines)


def store_charts(lake: Lake, version_key: str, images: Mapping[str, bytes]) -> dict[str, str]:
    """Each PNG (by file name) into the build's chart folder; returns where each went."""
    uris = {}
    for name, png in images.items():
        key = chart_key(version_key, name)
        lake.write_bytes(key, png)
        uris[name] = lake.uri(key)
    return uris


def published_charts(
    lake: Lake, catalog: TableCatalog, report: CorrelationReport
) -> tuple[TableSnapshot, dict[str, bytes]] | None:
    """The current snapshot and its charts by file name (those it has), or None before the first publish."""
    current = catalog.current(report.table)
    if current is None:
        return None
    images = {name: lake.read_bytes(chart_key(current.build_key, name)) for name in chart_titles(report)}
    return current, {name: png for name, png in images.items() if png is not None}


def overview_description(
    summary: str, report: CorrelationReport, lake: Lake | None, catalog: TableCatalog | None
) -> str:
    """The asset's description with the published version's charts inline.

    Dagster's UI renders an asset's description as markdown on its overview page (data-URI images
    included), while a materialisation's markdown metadata of 1,000 characters or more, as any
    embedded PNG is, shows there only as a "[Show Markdown]" link. The description is read when the
    code location loads, so it says which version it shows; the build's own charts stay in its
    materialisation. A lake that cannot be read never stops the code location from loading.
    """
    if lake is None or catalog is None:
        engagement, sales = report.weekly
        return f"{summary} Each materialisation carries a heatmap and the weekly {engagement} vs. {sales} chart."
    try:
        with lake.process_config_and_initialize_cm() as ready, catalog.process_config_and_initialize_cm() as tables:
            published = published_charts(ready, tables, report)
    except Exception as error:  # any storage or configuration error: load without the charts
        log.warning("the charts of %s could not be read for its description: %s", report.table, error)
        return f"{summary}\n\nThe published charts could not be read when the code location loaded: {error}"
    if published is None:
        return (
            f"{summary}\n\nNo published version yet: the charts show here once a build is published "
            "and the code location is reloaded."
        )
    version, images = published
    when = f"snapshot `{version.version}`, run `{version.run_id[:8]}`"
    if not images:
        return f"{summary}\n\nThe published version ({when}) has no charts."
    titles = chart_titles(report)
    return (
        f"{summary}\n\nCharts of the published version ({when}), as it was when the code location loaded: "
        "reload the code location to show a newer build here; each materialisation also carries its own charts.\n\n"
        + charts.markdown_images({titles[name]: png for name, png in images.items()})
    )


@dataclass(frozen=True)
class ReportQueries:
    """What the report computes, fixed when the definitions load: the joined table it reads, the
    engagement metrics it pairs with the report's sales metrics, and the two SQL texts."""

    report: CorrelationReport
    joined: str
    engagement: tuple[str, ...]

    @classmethod
    def of(cls, registry: Registry) -> "ReportQueries":
        engagement = engagement_metrics(registry.dataset(registry.report.engagement_input))
        return cls(registry.report, registry.joined.name, tuple(engagement))

    @property
    def correlation(self) -> str:
        return correlation_sql(self.joined, self.engagement, self.report.sales_metrics)

    @property
    def weekly(self) -> str:
        engagement, sales = self.report.weekly
        return weekly_sql(self.joined, engagement, sales)

    def code_version(self) -> str:
        """The SQL and the charts' code define the output: editing either marks the asset stale."""
        code = (self.correlation + self.weekly).encode() + Path(charts.__file__).read_bytes()
        return hashlib.sha256(code).hexdigest()[:16]


def chart_images(
    queries: ReportQueries, rows: Sequence[Mapping[str, Any]], weeks: Sequence[Sequence[Any]]
) -> dict[str, bytes]:
    week_starts, engagement, sales = (list(c) for c in zip(*weeks)) if weeks else ([], [], [])
    return {
        HEATMAP: charts.heatmap_png(rows, queries.engagement, queries.report.sales_metrics),
        WEEKLY: charts.weekly_png(week_starts, engagement, sales, *queries.report.weekly),
    }


def build_report(
    context: dg.AssetExecutionContext, lake: Lake, catalog: TableCatalog, sql: SqlEngine, queries: ReportQueries
) -> dg.MaterializeResult:
    """Compute the report where the data is queried, chart it, gate it with its checks, publish it."""
    report, joined = queries.report, queries.joined
    joined_snapshot = catalog.current(joined)  # recorded with the build: resolved before the queries read it
    started = time.monotonic()
    try:
        result = sql.query(queries.correlation)
        weeks = sql.query(queries.weekly)
    except SqlError as error:
        raise dg.Failure(
            description=f"cannot compute {report.table} from {joined}: {error}", allow_retries=False
        ) from None
    rows = [dict(zip(result.columns, row)) for row in result.rows]
    pairs = [(e, s) for e in queries.engagement for s in report.sales_metrics]
    checks = [correlations_in_range(rows), enough_days(rows, pairs, min_days())]
    tables = LakeTables(lake, catalog)
    staged = tables.stage(report.table_location, context.run.run_id)
    written = sql.write_parquet(queries.correlation, lake.uri(staged))
    usage = sql.usage([result.scanned_bytes, weeks.scanned_bytes, written], time.monotonic() - started)
    images = chart_images(queries, rows, weeks.rows)
    chart_uris = store_charts(lake, staged, images)
    inputs = {joined: joined_snapshot.snapshot_id} if joined_snapshot else {}
    build = Build(run_id=context.run.run_id, rows=len(rows), inputs=inputs)
    published, _ = publish_table(context, tables, report.table_location, staged, build, checks)
    context.log.info(f"{report.table}: {len(rows)} metric pairs; charts at {', '.join(chart_uris.values())}")
    schema = dg.TableSchema(columns=[dg.TableColumn(name, type_) for name, type_ in REPORT_COLUMNS])
    titles = chart_titles(report)
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": dg.MetadataValue.int(len(rows)),
            "dagster/column_schema": dg.MetadataValue.table_schema(schema),
            "dagster/column_lineage": dg.MetadataValue.column_lineage(
                column_lineage(joined, queries.engagement, report.sales_metrics)
            ),
            "charts": dg.MetadataValue.md(charts.markdown_images({titles[n]: png for n, png in images.items()})),
            "top_correlations": dg.MetadataValue.md(top_markdown(rows)),
            "chart_paths": dg.MetadataValue.json(chart_uris),
            **usage.metadata(),
            **published,
        },
        check_results=checks,
    )


def correlation_report_asset(
    registry: Registry, cycle: Cycle, lake: Lake | None = None, catalog: TableCatalog | None = None
) -> dg.AssetsDefinition:
    """The report asset; with ``lake`` and ``catalog``, its description shows the charts published there."""
    queries = ReportQueries.of(registry)
    report, joined = registry.report, registry.joined.name

    @dg.asset(
        name=report.table,
        deps=[joined],
        group_name=PIPELINE_GROUP,
        kinds={"sql", "parquet", "matplotlib"},
        owners=OWNERS,
        code_version=queries.code_version(),
        automation_condition=(
            dg.AutomationCondition.eager() & dg.AutomationCondition.all_deps_blocking_checks_passed()
        ).with_label("after each good build of the joined table"),
        freshness_policy=cycle.freshness_policy(),
        pool=table_pool(report.table),
        check_specs=report_check_specs(report.table),
        description=overview_description(
            f"Pearson correlation of each engagement metric with each sales metric in `{joined}`, same day and "
            "with engagement leading sales by 0-14 days (the lead with the strongest |r| is kept). Computed by the SQL engine.",
            report,
            lake,
            catalog,
        ),
        metadata={
            "table_location": dg.MetadataValue.text(report.table_location),
            "sql": dg.MetadataValue.md(f"```sql\n{queries.correlation}\n```"),
        },
    )
    def _report(
        context: dg.AssetExecutionContext, lake: Lake, catalog: TableCatalog, sql: SqlEngine
    ) -> dg.MaterializeResult:
        return build_report(context, lake, catalog, sql, queries)

    return _report
