"""An older upload never replaces data built from a newer one, whatever order its run finishes in.

The reported case: the demo samples were in the landing zone, the user landed the QuickSight files
later, and `dagster dev` started. The arrival sensors requested one run per file in key order, the
demo sample's run finished last and was published: sales_daily fell from 2,036 rows to 821 and the
joined table from 1,458 to 731. Here the daemon's logic runs on one instance with real Spark: the
sensors request the newest file only; a run of the older file (as the old sensor started, or a
hand-started one) is skipped as stale; an explicit ``allow_older`` rebuild still publishes it.
"""

import os
import time

import dagster as dg
import pytest
from pyiceberg.catalog.sql import SqlCatalog

from etl_platform.assets._shared import STALE_TAG
from etl_platform.cli import land
from etl_platform.datasets import MARKETING, REGISTRY, SALES
from etl_platform.definitions import build_definitions
from etl_platform.environment import local_resources
from etl_platform.project import SAMPLES_DIR
from etl_platform_tests.helpers import QUICKSIGHT_MARKETING, QUICKSIGHT_SALES, table_resources

pytestmark = pytest.mark.e2e

JOINED = REGISTRY.joined.name
USER_ROWS = {SALES.output_table: 2036, MARKETING.output_table: 1461, JOINED: 1458}


def _iceberg_rows(lake_root, table: str) -> int:
    """Rows of the table's current snapshot, read by a PyIceberg client of its own (not the platform's).
    The name must be the platform's: a SQL catalog only sees the tables registered under its own name."""
    catalog = SqlCatalog("etl_platform", uri=f"sqlite:///{lake_root / 'catalog.db'}", warehouse=str(lake_root))
    return catalog.load_table(("etl_platform", table)).scan().to_arrow().num_rows


def _upload(lake, dataset, file, at: float) -> str:
    land(lake, REGISTRY, dataset.name, file)
    key = dataset.landing_key_prefix + file.name
    os.utime(lake.uri(key), (at, at))
    return key


def _materializations(result: dg.ExecuteInProcessResult, table: str) -> list:
    return [m for m in result.get_asset_materialization_events() if m.asset_key == dg.AssetKey(table)]


def test_an_older_upload_never_replaces_the_newer_ones_table(quicksight_dir, lake_root) -> None:
    resources = table_resources(lake_root, local_resources()["spark"])  # the session's Spark Connect server
    defs = build_definitions(REGISTRY, resources)
    job = defs.resolve_implicit_global_asset_job_def()
    lake, catalog, sql = resources["lake"], resources["catalog"], resources["sql"]

    now = time.time()
    demo = {  # the demo samples, landed first...
        SALES: _upload(lake, SALES, next((SAMPLES_DIR / "sales").glob("*.csv")), now - 3600),
        MARKETING: _upload(lake, MARKETING, next((SAMPLES_DIR / "marketing").glob("*.csv")), now - 3600),
    }
    mine = {  # ...then the user's own files, strictly later
        SALES: _upload(lake, SALES, quicksight_dir / QUICKSIGHT_SALES, now - 60),
        MARKETING: _upload(lake, MARKETING, quicksight_dir / QUICKSIGHT_MARKETING, now - 60),
    }
    # Key order puts the user's file first: requested in key order, the demo's run would end last.
    assert all(mine[d] < demo[d] for d in (SALES, MARKETING))

    def run(selection, config=None, tags=None) -> dg.ExecuteInProcessResult:
        result = job.execute_in_process(
            instance=instance, asset_selection=selection, run_config=config or {}, tags=tags or {}
        )
        assert result.success
        return result

    def rows(table: str) -> tuple[int, int]:
        return sql.query(f"select count(*) from {table}").rows[0][0], _iceberg_rows(lake_root, table)

    with dg.instance_for_test() as instance:
        automation_cursor = None

        def automation_tick() -> list[dg.AssetKey]:
            """What the join barrier's automation sensor would request now."""
            nonlocal automation_cursor
            result = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=automation_cursor)
            automation_cursor = result.cursor
            return sorted(
                key for key in defs.resolve_asset_graph().get_all_asset_keys() if result.get_num_requested(key)
            )

        assert automation_tick() == []  # the daemon's first evaluation, before any run
        # `dagster dev` starts: one tick of each arrival sensor, and the runs they request.
        for dataset in (SALES, MARKETING):
            sensor = defs.resolve_sensor_def(f"{dataset.name}_arrival_sensor")
            result = sensor(dg.build_sensor_context(instance=instance, resources={"lake": lake}))
            (request,) = result.run_requests  # the newest file only; the demo's is superseded
            assert request.run_config == {"ops": {dataset.output_table: {"config": {"object_key": mine[dataset]}}}}
            assert _materializations(
                run(request.asset_selection, request.run_config, request.tags), dataset.output_table
            )
        assert lake.stat(demo[SALES]) is not None  # superseded, not deleted
        join = run(automation_tick())  # the barrier: both inputs processed, the join (and its report) runs
        (joined,) = _materializations(join, JOINED)
        joined_snapshot = catalog.current(JOINED)

        # The demo file's run, as the old sensor started it, finishing after the user's: skipped as stale.
        current = catalog.current(SALES.output_table)
        assert current.source.key == mine[SALES]
        stale = run(
            [dg.AssetKey(SALES.output_table)], {"ops": {SALES.output_table: {"config": {"object_key": demo[SALES]}}}}
        )
        assert _materializations(stale, SALES.output_table) == []
        assert stale.get_asset_check_evaluations()  # its checks ran and are reported
        assert instance.get_run_by_id(stale.run_id).tags[STALE_TAG] == demo[SALES]
        (observation,) = [e.asset_observation_data.asset_observation for e in stale.get_asset_observation_events()]
        assert observation.asset_key == dg.AssetKey(SALES.output_table)
        assert observation.metadata["stale_build"].value is True
        assert observation.metadata["skipped_object"].value == demo[SALES]
        assert observation.metadata["current_source_object"].value == mine[SALES]
        assert demo[SALES] in observation.description and mine[SALES] in observation.description
        (logged,) = [e.message for e in instance.all_logs(stale.run_id) if "skipped as stale" in (e.message or "")]
        assert demo[SALES] in logged and mine[SALES] in logged
        assert catalog.current(SALES.output_table) == current  # no new snapshot
        assert automation_tick() == []  # nothing changed upstream: the join is not rebuilt

        # The figures stay the user's, through the platform's SQL and through an independent client.
        for table, expected in USER_ROWS.items():
            assert rows(table) == (expected, expected), table
        assert joined.event_specific_data.materialization.metadata["dagster/row_count"].value == USER_ROWS[JOINED]
        assert catalog.current(JOINED) == joined_snapshot

        # An explicit rebuild of the older file does publish it.
        config = {"ops": {SALES.output_table: {"config": {"object_key": demo[SALES], "allow_older": True}}}}
        rebuilt = run([dg.AssetKey(SALES.output_table)], config)
        assert _materializations(rebuilt, SALES.output_table)
        assert STALE_TAG not in instance.get_run_by_id(rebuilt.run_id).tags
        assert rows(SALES.output_table) == (821, 821)
        assert catalog.current(SALES.output_table).source.key == demo[SALES]
