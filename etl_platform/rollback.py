"""``etl-platform rollback``: make an earlier snapshot of a table current again.

Iceberg's snapshot management moves the table's current snapshot in one catalog commit; every
reader follows, as the catalog is the only place that says what is current. Dagster then records it:
a materialisation of the table (it now holds different data, so downstream tables see the change)
and the checks that snapshot passed when it was built, so the join barrier does not wait for checks
that already ran. A snapshot published without some rejected landing rows has its
``parse_rejects`` warning restated, so the rollback does not make it look whole.
"""

from __future__ import annotations

import dagster as dg

from etl_platform.checks.restate import restate_checks
from etl_platform.resources import Lake, TableCatalog
from etl_platform.resources.catalog import TableError, TableSnapshot
from etl_platform.tables import LakeTables


def table_names(defs: dg.Definitions) -> list[str]:
    """The tables the code location publishes (assets with a ``table_location``)."""
    graph = defs.resolve_asset_graph()
    return sorted(
        key.to_user_string() for key in graph.get_all_asset_keys() if "table_location" in graph.get(key).metadata
    )


def rollback_table(
    defs: dg.Definitions, lake: Lake, catalog: TableCatalog, instance: dg.DagsterInstance, table: str, to: int | None
) -> tuple[TableSnapshot, TableSnapshot]:
    """Returns (restored, replaced)."""
    if table not in table_names(defs):
        raise TableError(f"unknown table {table!r}; tables: {', '.join(table_names(defs))}")
    restored, replaced = LakeTables(lake, catalog).rollback(table, to)
    key = dg.AssetKey(table)
    note = f"rolled back from snapshot {replaced.version} to {restored.version} (built by run {restored.run_id})"
    instance.report_runless_asset_event(
        dg.AssetMaterialization(
            asset_key=key,
            description=note,
            metadata={
                "dagster/row_count": dg.MetadataValue.int(restored.rows),
                "rejected_rows": dg.MetadataValue.int(restored.rejected_rows),
                "table_version": dg.MetadataValue.text(restored.version),
                "table_version_path": dg.MetadataValue.path(lake.uri(restored.build_key)),
                "rolled_back_from": dg.MetadataValue.text(replaced.version),
                "built_by_run": dg.MetadataValue.text(restored.run_id),
                "published": dg.MetadataValue.bool(True),
            },
        )
    )
    checks = [spec.name for spec in defs.resolve_assets_def(key).check_specs]
    restate_checks(instance, key, restored, checks, note)
    return restored, replaced
