"""The business answer: does engagement move with revenue? A table the SQL engine computes, with charts.

Unlike the Spark-built tables, this one is computed where the data is queried (DuckDB locally,
Athena on AWS) from one SQL text, written as snappy Parquet into a build folder, audited and
committed to its Iceberg table like the others.
"""

import hashlib
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import dagster as dg

from etl_platform.assets._shared import OWNERS, PIPELINE_GROUP, publish_table, table_pool
from etl_platform.automation.cadence import Cycle
from etl_platform.datasets import MARKETING, Registry
from etl_platform.insight import charts
from etl_platform.insight.checks import correlations_in_range, enough_days, min_days, report_check_specs
from etl_platform.insight.correlation_sql import (
    REPORT_COLUMNS,
    REPORT_LOCATION,
    REPORT_TABLE,
    SALES_METRICS,
    WEEKLY_ENGAGEMENT,
    WEEKLY_SALES,
    correlation_sql,
    engagement_metrics,
    weekly_sql,
)
from etl_platform.insight.report import HEATMAP, WEEKLY, chart_key
from etl_platform.resources import Lake, SqlEngine, TableCatalog
from etl_platform.resources.catalog import TableSnapshot
from etl_platform.resources.sql import SqlError
from etl_platform.tables import Build, LakeTables

TOP = 10
TITLES = {HEATMAP: "Correlation at the strongest lead", WEEKLY: f"Weekly {WEEKLY_ENGAGEMENT} vs. {WEEKLY_SALES}"}

log = logging.getLogger(__name__)


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


def published_charts(lake: Lake, catalog: TableCatalog) -> tuple[TableSnapshot, dict[str, bytes]] | None:
    """The current snapshot and its charts by file name (those it has), or None before the first publish."""
    current = catalog.current(REPORT_TABLE)
    if current is None:
        return None
    images = {name: lake.read_bytes(chart_key(current.build_key, name)) for name in TITLES}
    return current, {name: png for name, png in images.items() if png is not None}


def overview_description(summary: str, lake: Lake | None, catalog: TableCatalog | None) -> str:
    """The asset's description with the published version's charts inline.

    Dagster's UI renders an asset's description as markdown on its overview page (data-URI images
    included), while a materialisation's markdown metadata of 1,000 characters or more, as any
    embedded PNG is, shows there only as a "[Show Markdown]" link. The description is read when the
    code location loads, so it says which version it shows; the build's own charts stay in its
    materialisation. A lake that cannot be read never stops the code location from loading.
    """
    if lake is None or catalog is None:
        return f"{summary} Each materialisation carries a heatmap and the weekly {WEEKLY_ENGAGEMENT} vs. {WEEKLY_SALES} chart."
    try:
        with lake.process_config_and_initialize_cm() as ready, catalog.process_config_and_initialize_cm() as tables:
            published = published_charts(ready, tables)
    except Exception as error:  # any storage or configuration error: load without the charts
        log.warning("the charts of %s could not be read for its description: %s", REPORT_TABLE, error)
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
    return (
        f"{summary}\n\nCharts of the published version ({when}), as it was when the code location loaded: "
        "reload the code location to show a newer build here; each materialisation also carries its own charts.\n\n"
        + charts.markdown_images({TITLES[name]: png for name, png in images.items()})
    )


def correlation_report_asset(
    registry: Registry, cycle: Cycle, lake: Lake | None = None, catalog: TableCatalog | None = None
) -> dg.AssetsDefinition:
    """The report asset; with ``lake`` and ``catalog``, its description shows the charts published there."""
    joined = registry.joined.name
    engagement = engagement_metrics(registry.dataset(MARKETING.name))
    report_sql = correlation_sql(joined, engagement, SALES_METRICS)
    weekly = weekly_sql(joined)
    pairs = [(e, s) for e in engagement for s in SALES_METRICS]
    schema = dg.TableSchema(columns=[dg.TableColumn(name, type_) for name, type_ in REPORT_COLUMNS])
    lineage = column_lineage(joined, engagement, SALES_METRICS)
    # The SQL and the charts' code define the output: editing either marks the asset stale.
    code_version = hashlib.sha256((report_sql + weekly).encode() + Path(charts.__file__).read_bytes()).hexdigest()[:16]

    @dg.asset(
        name=REPORT_TABLE,
        deps=[joined],
        group_name=PIPELINE_GROUP,
        kinds={"sql", "parquet", "matplotlib"},
        owners=OWNERS,
        code_version=code_version,
        automation_condition=(
            dg.AutomationCondition.eager() & dg.AutomationCondition.all_deps_blocking_checks_passed()
        ).with_label("after each good build of the joined table"),
        freshness_policy=cycle.freshness_policy(),
        pool=table_pool(REPORT_TABLE),
        check_specs=report_check_specs(REPORT_TABLE),
        description=overview_description(
            f"Pearson correlation of each engagement metric with each sales metric in `{joined}`, same day and "
            "with engagement leading sales by 0-14 days (the lead with the strongest |r| is kept). Computed by the SQL engine.",
            lake,
            catalog,
        ),
        metadata={
            "table_location": dg.MetadataValue.text(REPORT_LOCATION),
            "sql": dg.MetadataValue.md(f"```sql\n{report_sql}\n```"),
        },
    )
    def _report(
        context: dg.AssetExecutionContext, lake: Lake, catalog: TableCatalog, sql: SqlEngine
    ) -> dg.MaterializeResult:
        joined_snapshot = catalog.current(joined)  # recorded with the build: resolved before the queries read it
        try:
            result = sql.query(report_sql)
            weeks = sql.query(weekly)
        except SqlError as error:
            raise dg.Failure(
                description=f"cannot compute {REPORT_TABLE} from {joined}: {error}", allow_retries=False
            ) from None
        rows = [dict(zip(result.columns, row)) for row in result.rows]
        checks = [correlations_in_range(rows), enough_days(rows, pairs, min_days())]
        tables = LakeTables(lake, catalog)
        staged = tables.stage(REPORT_LOCATION, context.run.run_id)
        sql.write_parquet(report_sql, lake.uri(staged))
        week_starts, visits, revenue = (list(c) for c in zip(*weeks.rows)) if weeks.rows else ([], [], [])
        images = {
            HEATMAP: charts.heatmap_png(rows, engagement, SALES_METRICS),
            WEEKLY: charts.weekly_png(week_starts, visits, revenue, WEEKLY_ENGAGEMENT, WEEKLY_SALES),
        }
        chart_uris = store_charts(lake, staged, images)
        build = Build(
            run_id=context.run.run_id,
            rows=len(rows),
            inputs={joined: joined_snapshot.snapshot_id} if joined_snapshot else {},
        )
        published, _ = publish_table(context, tables, REPORT_LOCATION, staged, build, checks)
        context.log.info(f"{REPORT_TABLE}: {len(rows)} metric pairs; charts at {', '.join(chart_uris.values())}")
        return dg.MaterializeResult(
            metadata={
                "dagster/row_count": dg.MetadataValue.int(len(rows)),
                "dagster/column_schema": dg.MetadataValue.table_schema(schema),
                "dagster/column_lineage": dg.MetadataValue.column_lineage(lineage),
                "charts": dg.MetadataValue.md(charts.markdown_images({TITLES[n]: png for n, png in images.items()})),
                "top_correlations": dg.MetadataValue.md(top_markdown(rows)),
                "chart_paths": dg.MetadataValue.json(chart_uris),
                **published,
            },
            check_results=checks,
        )

    return _report
