"""A publishing process killed (SIGKILL) just before or just after its catalog commit: the catalog is
the only commit point, so `versions`, `query` and any Iceberg reader agree at once, with nothing to
reconcile (the old format could show the new version in `versions` and the old one in `query`)."""

import os
import signal
import subprocess
import sys
import textwrap
import time

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from etl_platform.resources import DuckDBEngine, LocalLake
from etl_platform.tables import Build, LakeTables
from etl_platform_tests.helpers import iceberg_table, lake_catalog

LOCATION = "processed/sales_daily"

# Publishes a staged build of 5 rows, stopping at PAUSE (just before the catalog commit, or just
# after it) until the test kills it.
PUBLISHER = textwrap.dedent(
    """
    import signal, sys
    from pathlib import Path
    from pyiceberg.table import Table
    from etl_platform.resources import LocalLake
    from etl_platform.tables import Build, LakeTables
    from etl_platform_tests.helpers import lake_catalog

    root, key, pause, signal_file = sys.argv[1:5]

    commit = Table._do_commit

    def hold(self, *args, **kwargs):
        if pause == "after_commit":
            commit(self, *args, **kwargs)  # the catalog has the new snapshot; the process dies before it returns
        Path(signal_file).touch()  # before_commit: manifests and metadata written, the catalog not yet told
        signal.pause()  # until the test's SIGKILL

    Table._do_commit = hold
    LakeTables(LocalLake(root=root), lake_catalog(root)).publish("sales_daily", "processed/sales_daily", key, Build(run_id="run-killed", rows=5))
    """
)


def _stage(tables: LakeTables, root, rows: int, run_id: str) -> str:
    key = tables.stage(LOCATION, run_id)
    (root / key).mkdir(parents=True)
    pq.write_table(pa.table({"n": list(range(rows))}), root / key / "part-00000.parquet")
    return key


def _killed_while_publishing(root, key: str, pause: str) -> None:
    signal_file = root / "paused"
    process = subprocess.Popen(
        [sys.executable, "-c", PUBLISHER, str(root), key, pause, str(signal_file)], start_new_session=True
    )
    try:
        deadline = time.monotonic() + 120
        while not signal_file.exists():
            assert process.poll() is None, "the publisher ended before reaching the pause"
            assert time.monotonic() < deadline, "the publisher never reached the pause"
            time.sleep(0.05)
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


@pytest.mark.parametrize(("pause", "current_rows"), [("before_commit", 3), ("after_commit", 5)])
def test_a_publisher_killed_around_its_commit_leaves_every_reader_agreeing(tmp_path, pause, current_rows) -> None:
    lake, catalog = LocalLake(root=str(tmp_path)), lake_catalog(tmp_path)
    tables = LakeTables(lake, catalog)
    first = tables.publish(
        "sales_daily", LOCATION, _stage(tables, tmp_path, 3, "run-first"), Build(run_id="run-first", rows=3)
    ).snapshot

    _killed_while_publishing(tmp_path, _stage(tables, tmp_path, 5, "run-killed"), pause)

    current = catalog.current("sales_daily")
    snapshots = catalog.snapshots("sales_daily")
    assert current.rows == current_rows
    assert [s.run_id for s in snapshots] == (["run-first"] if pause == "before_commit" else ["run-first", "run-killed"])
    assert (current == first) is (pause == "before_commit")
    # The query engine and an independent Iceberg client read what `versions` calls current.
    assert DuckDBEngine(catalog=catalog).query("select count(*) from sales_daily").rows == [(current_rows,)]
    assert iceberg_table(tmp_path, "sales_daily").scan().to_arrow().num_rows == current_rows
    # And the next publish goes on from there.
    after = tables.publish(
        "sales_daily", LOCATION, _stage(tables, tmp_path, 7, "run-next"), Build(run_id="run-next", rows=7)
    ).snapshot
    assert after.parent_id == current.snapshot_id and catalog.current("sales_daily") == after
