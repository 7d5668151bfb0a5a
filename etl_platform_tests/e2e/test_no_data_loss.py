"""Fault injection on the real platform (local Spark, the real filesystem, a Dagster instance):
nothing makes the current version of a table disappear, become partial or mix versions."""

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
from etl_platform.versions import TableVersions
from etl_platform_tests.assets.fake_runner import RecordingRunner
from etl_platform_tests.helpers import created_instance_home, table_resources

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


def _fingerprint(lake_root, key: str) -> dict[str, str]:
    folder = lake_root / key
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def _materialize(resources, instance, object_key: str | None = None):
    job = build_definitions(REGISTRY, resources).resolve_implicit_global_asset_job_def()
    config = {"ops": {"sales_daily": {"config": {"object_key": object_key}}}} if object_key else None
    return job.execute_in_process(instance=instance, asset_selection=[SALES_DAILY], run_config=config, raise_on_error=False)


def _catalog_rows(lake_root) -> int:
    return DuckDBEngine(catalog_path=str(lake_root / "catalog.duckdb")).query("select count(*) from sales_daily").rows[0][0]


def test_crash_mid_write_and_bad_files_leave_the_current_version_intact(lake_root, tmp_path) -> None:
    lines = (SAMPLES_DIR / SALES_SAMPLE).read_text().splitlines(keepends=True)[:200]
    (tmp_path / "good.csv").write_text("".join(lines))
    assert cli.main(["land", "sales", str(tmp_path / "good.csv")]) == 0
    versions = TableVersions(LocalLake(root=str(lake_root)), "processed/sales_daily")
    with dg.instance_for_test() as instance:
        assert _materialize(resources_for_environment(), instance).success
        good = versions.require_current()
        before = _fingerprint(lake_root, good.key)
        rows = _catalog_rows(lake_root)

        # 1. The script dies after writing part of its output (each retry dies the same way).
        crashing = tmp_path / "scripts"
        crashing.mkdir()
        (crashing / "process_sales_data.py").write_text(CRASH_MID_WRITE)
        resources = resources_for_environment()
        runner = resources["spark"]
        resources["spark"] = type(runner)(**{**runner.model_dump(), "scripts_dir": str(crashing)})
        crashed = _materialize(resources, instance)
        assert not crashed.success
        assert versions.require_current() == good and _fingerprint(lake_root, good.key) == before
        assert pq.read_table(lake_root / good.key).num_rows == rows == _catalog_rows(lake_root)
        leftovers = [v for v in versions.staged_versions() if v != good.version]
        assert leftovers  # the partial writes are there, but nothing points at them

        # 2. A bad file: a clear failure, the file quarantined, the current version untouched.
        (tmp_path / "bad.csv").write_text("".join(lines).replace(",", ";"))
        assert cli.main(["land", "sales", str(tmp_path / "bad.csv")]) == 0
        bad = _materialize(resources_for_environment(), instance)  # the newest file: bad.csv
        (failure,) = bad.get_step_failure_events()
        message = failure.event_specific_data.error.message
        assert "bad.csv: line 1 is one column containing ';'" in message and "quarantined:" in message
        assert versions.require_current() == good and _fingerprint(lake_root, good.key) == before
        reports = sorted((lake_root / "quarantine" / "sales").glob("*_bad.csv.error.json"))
        assert len(reports) == 1 and (lake_root / "landing" / "sales" / "bad.csv").is_file()

        # 3. The next good build publishes and clears the leftovers older than it.
        assert _materialize(resources_for_environment(), instance, "landing/sales/good.csv").success
        newest = versions.require_current()
        assert newest != good and set(versions.staged_versions()) == {good.version, newest.version}
        assert pq.read_table(lake_root / newest.key).num_rows == rows


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


def test_two_builds_at_once_the_later_publish_wins_cleanly(tmp_path) -> None:
    """With no pool limit (an instance without concurrency settings) both builds go ahead at once."""
    landed = tmp_path / "landing" / "sales" / "week47.csv"
    landed.parent.mkdir(parents=True)
    landed.write_text("Date\n1/1/2016\n")
    home, sync = created_instance_home(tmp_path / "home"), tmp_path / "sync"
    sync.mkdir()
    spawn = multiprocessing.get_context("spawn")
    builds = [spawn.Process(target=_build_in_own_process, args=(str(tmp_path), str(home), rows, str(sync))) for rows in (7, 9)]
    for build in builds:
        build.start()
    for build in builds:
        build.join(timeout=300)
    assert [build.exitcode for build in builds] == [0, 0]
    pointer = TableVersions(LocalLake(root=str(tmp_path)), "processed/sales_daily").pointer()
    assert sorted(v.rows for v in pointer.history) == [7, 9]  # both published, in turn
    assert pointer.current == pointer.history[-1]  # the later publish is current ...
    assert pq.read_table(tmp_path / pointer.current.key).num_rows == pointer.current.rows  # ... and whole
    assert _catalog_rows(tmp_path) == pointer.current.rows  # the catalog agrees with the pointer
