"""Fault injection on the real platform (local Spark, the real filesystem, a Dagster instance):
nothing makes the current snapshot of a table disappear, become partial or mix builds; the Iceberg
catalog, read by an independent PyIceberg client, is the judge."""

import hashlib
import multiprocessing
import textwrap
import time
from pathlib import Path

import dagster as dg
import pyarrow.parquet as pq
import pytest

from etl_platform import cli
from etl_platform.datasets import REGISTRY
from etl_platform.definitions import build_definitions
from etl_platform.environment import resources_for_environment
from etl_platform.project import SAMPLES_DIR
from etl_platform.resources import DuckDBEngine, LocalLake
from etl_platform.samples import SALES_SAMPLE
from etl_platform.tables import LakeTables
from etl_platform_tests.assets.fake_runner import RecordingRunner
from etl_platform_tests.helpers import created_instance_home, iceberg_table, lake_catalog, table_resources

pytestmark = pytest.mark.e2e

SALES_DAILY = dg.AssetKey("sales_daily")

# Stands in for process_sales_data.py: writes part of its output, then dies as a lost executor or
# an OOM-killed driver would, before any commit marker or report.
CRASH_MID_WRITE = textwrap.dedent(
    """
    import os, signal, sys
    import pyarrow as pa, pyarrow.parquet as pq
    out = sys.argv[sys.argv.index("--output_path") + 1]
    os.makedirs(out, exist_ok=True)
    for part in range(2):
        pq.write_table(pa.table({"date": ["2016-01-01"] * 10}), os.path.join(out, f"part-0000{part}.snappy.parquet"))
    os.kill(os.getpid(), signal.SIGKILL)
    """
)


def _fingerprint(lake_root, table: str) -> dict[str, str]:
    """Each data file of the table's current snapshot, by its content."""
    return {
        path: hashlib.sha256(Path(path).read_bytes()).hexdigest() for path in lake_catalog(lake_root).data_files(table)
    }


def _iceberg_rows(lake_root, table: str = "sales_daily") -> int:
    return iceberg_table(lake_root, table).scan().to_arrow().num_rows


def _materialize(resources, instance, object_key: str | None = None, allow_older: bool = False):
    job = build_definitions(REGISTRY, resources).resolve_implicit_global_asset_job_def()
    config = (
        {"ops": {"sales_daily": {"config": {"object_key": object_key, "allow_older": allow_older}}}}
        if object_key
        else None
    )
    return job.execute_in_process(
        instance=instance, asset_selection=[SALES_DAILY], run_config=config, raise_on_error=False
    )


def _catalog_rows(lake_root) -> int:
    return DuckDBEngine(catalog=lake_catalog(lake_root)).query("select count(*) from sales_daily").rows[0][0]


def _build_folders(lake_root) -> set[str]:
    return {p.name for p in (lake_root / "processed" / "sales_daily" / "data").iterdir()}


def test_crash_mid_write_and_bad_files_leave_the_current_snapshot_intact(lake_root, tmp_path, monkeypatch) -> None:
    lines = (SAMPLES_DIR / SALES_SAMPLE).read_text().splitlines(keepends=True)[:200]
    (tmp_path / "good.csv").write_text("".join(lines))
    assert cli.main(["land", "sales", str(tmp_path / "good.csv")]) == 0
    catalog = lake_catalog(lake_root)
    with dg.instance_for_test() as instance:
        assert _materialize(resources_for_environment(), instance).success
        good = catalog.current("sales_daily")
        before = _fingerprint(lake_root, "sales_daily")
        rows = _catalog_rows(lake_root)
        assert rows == _iceberg_rows(lake_root) == good.rows

        # 1. The script dies after writing part of its output (each retry dies the same way).
        crashing = tmp_path / "scripts"
        crashing.mkdir()
        (crashing / "process_sales_data.py").write_text(CRASH_MID_WRITE)
        resources = resources_for_environment()
        runner = resources["spark"]
        resources["spark"] = type(runner)(**{**runner.model_dump(), "scripts_dir": str(crashing)})
        crashed = _materialize(resources, instance)
        assert not crashed.success
        assert catalog.current("sales_daily") == good and _fingerprint(lake_root, "sales_daily") == before
        assert _iceberg_rows(lake_root) == rows == _catalog_rows(lake_root)
        assert len(catalog.snapshots("sales_daily")) == 1  # no snapshot for a killed build
        leftovers = _build_folders(lake_root) - {Path(good.build_key).name}
        assert leftovers  # the partial writes are there, but no snapshot lists them

        # 2. A bad file: a clear failure, the file quarantined, the current version untouched.
        (tmp_path / "bad.csv").write_text("".join(lines).replace(",", ";"))
        assert cli.main(["land", "sales", str(tmp_path / "bad.csv")]) == 0
        bad = _materialize(resources_for_environment(), instance)  # the newest file: bad.csv
        (failure,) = bad.get_step_failure_events()
        message = failure.event_specific_data.error.message
        assert "bad.csv: line 1 is one column containing ';'" in message and "quarantined:" in message
        assert catalog.current("sales_daily") == good and _fingerprint(lake_root, "sales_daily") == before
        assert _iceberg_rows(lake_root) == rows
        reports = sorted((lake_root / "quarantine" / "sales").glob("*_bad.csv.error.json"))
        assert len(reports) == 1 and (lake_root / "landing" / "sales" / "bad.csv").is_file()

        # 3. The next good build commits a snapshot; orphan clean-up keeps the leftovers while they
        # are younger than the safety age (a build may still be writing them) ...
        assert _materialize(resources_for_environment(), instance, "landing/sales/good.csv", allow_older=True).success
        newest = catalog.current("sales_daily")
        assert newest != good and newest.parent_id == good.snapshot_id and _iceberg_rows(lake_root) == rows
        assert leftovers <= _build_folders(lake_root)
        # ... and removes them once older (the same clean-up each publish runs); kept snapshots' folders stay.
        monkeypatch.setenv("ETL_ORPHAN_MIN_AGE_HOURS", "0")
        LakeTables(LocalLake(root=str(lake_root)), catalog).maintain("sales_daily", "processed/sales_daily")
        kept = {Path(s.build_key).name for s in catalog.snapshots("sales_daily")}
        assert _build_folders(lake_root) == kept and len(kept) == 2 and _iceberg_rows(lake_root) == rows


class Overlapping(RecordingRunner):
    """Holds each build inside its Spark step until the other has reached it too."""

    sync_dir: str = ""

    def run_script(self, context, script, arguments, capacity=None):  # type: ignore[override]
        sync = Path(self.sync_dir)
        (sync / context.run.run_id).touch()
        deadline = time.monotonic() + 120
        while len(list(sync.iterdir())) < 2:
            if time.monotonic() > deadline:
                raise TimeoutError("the other build never started")
            time.sleep(0.05)
        return super().run_script(context, script, arguments, capacity)


def _build_in_own_process(lake_root: str, home: str, rows: int, sync_dir: str) -> None:
    """One run in its own process, as the daemon would launch it (Dagster's in-process execution
    is not meant to share an instance between threads)."""
    with dg.DagsterInstance.from_config(home) as instance:
        runner = Overlapping(row_count=rows, sync_dir=sync_dir)
        if not _materialize(table_resources(lake_root, runner), instance).success:
            raise SystemExit(1)


def test_two_builds_at_once_both_commit_in_turn_and_the_table_is_never_mixed(tmp_path) -> None:
    """With no pool limit (an instance without concurrency settings) both builds go ahead at once;
    the catalog's commit lets one in first, the other commits on top of it."""
    landed = tmp_path / "landing" / "sales" / "week47.csv"
    landed.parent.mkdir(parents=True)
    landed.write_text("Date\n1/1/2016\n")
    home, sync = created_instance_home(tmp_path / "home"), tmp_path / "sync"
    sync.mkdir()
    spawn = multiprocessing.get_context("spawn")
    builds = [
        spawn.Process(target=_build_in_own_process, args=(str(tmp_path), str(home), rows, str(sync))) for rows in (7, 9)
    ]
    for build in builds:
        build.start()
    for build in builds:
        build.join(timeout=300)
    assert [build.exitcode for build in builds] == [0, 0]
    snapshots = lake_catalog(tmp_path).snapshots("sales_daily")
    assert sorted(s.rows for s in snapshots) == [7, 9]  # both committed, none lost
    current = lake_catalog(tmp_path).current("sales_daily")
    assert (
        current == snapshots[-1] and current.parent_id == snapshots[0].snapshot_id
    )  # the later commit, on the earlier
    files = lake_catalog(tmp_path).data_files("sales_daily")
    assert {Path(f).parent.name for f in files} == {Path(current.build_key).name}  # one build's files only
    assert (
        sum(pq.read_table(f).num_rows for f in files)
        == current.rows
        == _iceberg_rows(tmp_path)
        == _catalog_rows(tmp_path)
    )
