"""``etl-platform rollback``: make an earlier published version of a table current again.

The pointer moves first, then the SQL catalog follows, then Dagster records it: a materialisation
of the table (it now holds different data, so downstream tables see the change) and the checks
that version passed when it was built, so the join barrier does not wait for checks that already ran.
A version published without some rejected landing rows has its ``parse_rejects`` warning restated,
so the rollback does not make it look whole.
"""

from __future__ import annotations

import dagster as dg

from etl_platform.checks.restate import restate_checks
from etl_platform.resources import Lake, SqlEngine
from etl_platform.versions import TableVersion, TableVersions, VersionError, catalog_follows


def table_location(defs: dg.Definitions, table: str) -> str:
    """The lake location of table asset ``table``, from its ``table_location`` metadata."""
    graph = defs.resolve_asset_graph()
    locations = {
        key.to_user_string(): str(graph.get(key).metadata["table_location"].value)
        for key in graph.get_all_asset_keys()
        if "table_location" in graph.get(key).metadata
    }
    if table not in locations:
        raise VersionError(f"unknown table {table!r}; tables: {', '.join(sorted(locations))}")
    return locations[table]


def rollback_table(
    defs: dg.Definitions, lake: Lake, sql: SqlEngine, instance: dg.DagsterInstance, table: str, to: str | None
) -> TableVersion:
    restored = TableVersions(lake, table_location(defs, table)).rollback(to, follow=catalog_follows(sql, lake, table))
    key = dg.AssetKey(table)
    note = f"rolled back from {restored.rolled_back_from} to {restored.version} (built by run {restored.run_id})"
    instance.report_runless_asset_event(
        dg.AssetMaterialization(
            asset_key=key,
            description=note,
            metadata={
                "dagster/row_count": dg.MetadataValue.int(restored.rows),
                "rejected_rows": dg.MetadataValue.int(restored.rejected_rows),
                "table_version": dg.MetadataValue.text(restored.version),
                "table_version_path": dg.MetadataValue.path(lake.uri(restored.key)),
                "rolled_back_from": dg.MetadataValue.text(restored.rolled_back_from or ""),
                "built_by_run": dg.MetadataValue.text(restored.run_id),
                "published": dg.MetadataValue.bool(True),
            },
        )
    )
    checks = [spec.name for spec in defs.resolve_assets_def(key).check_specs]
    restate_checks(instance, key, restored, checks, note)
    return restored
