"""Write-audit-publish on Iceberg, locally: builds staged in the lake folder, committed in a SQLite
catalog as snapshots; staleness, rollback, expiry, orphan clean-up, time travel, outside readers."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pyiceberg.catalog.sql import SqlCatalog
from pyiceberg.exceptions import NoSuchTableError

from etl_platform.resources import DuckDBEngine, LocalLake, SqlTableCatalog
from etl_platform.resources.catalog import BuildSource, TableError, TableSnapshot
from etl_platform.tables import (
    Build,
    LakeTables,
    Published,
    describe_snapshots,
    new_build_id,
)

TABLE, LOCATION = "sales_daily", "processed/sales_daily"


class Bench:
    """A lake folder and its SQLite catalog, and builds written the way a Spark job leaves them."""

    def __init__(self, root: Path):
        self.root = root
        self.lake = LocalLake(root=str(root))
        self.catalog = SqlTableCatalog(uri=f"sqlite:///{root}/catalog.db", warehouse=str(root))
        self.tables = LakeTables(self.lake, self.catalog)
        self.run_ids: dict[str, str] = {}

    def build(self, run_id: str, rows: int, files: int = 1, location: str = LOCATION) -> str:
        """Stage a build of ``rows`` rows (every row names its run) in ``files`` Parquet files."""
        key = self.tables.stage(location, run_id)
        folder = self.lake._path(key)
        folder.mkdir(parents=True)
        bounds = [rows * part // files for part in range(files + 1)]
        for part in range(files):
            numbers = list(range(bounds[part], bounds[part + 1]))
            pq.write_table(
                pa.table({"run": [run_id] * len(numbers), "n": numbers}), folder / f"part-{part:05d}.snappy.parquet"
            )
        (folder / "_SUCCESS").write_bytes(b"")
        self.run_ids[key] = run_id
        return key

    def publish(
        self,
        key: str,
        rows: int,
        source: BuildSource | None = None,
        table: str = TABLE,
        location: str = LOCATION,
        allow_older: bool = False,
        **build,
    ) -> Published:
        """Publish the build staged at ``key`` as its run would, from the landing object ``source``."""
        return self.tables.publish(
            table,
            location,
            key,
            Build(run_id=self.run_ids[key], rows=rows, source=source, **build),
            allow_older=allow_older,
        )

    def files(self, key: str) -> list[str]:
        """The build's own Parquet files as the catalog lists them."""
        return sorted(str(path) for path in self.lake._path(key).glob("*.parquet"))

    def read(self, snapshot_id: int | None = None, table: str = TABLE) -> pa.Table:
        iceberg = self.catalog.require(table)
        scan = iceberg.scan(snapshot_id=snapshot_id) if snapshot_id is not None else iceberg.scan()
        return scan.to_arrow().sort_by("n")


@pytest.fixture
def bench(tmp_path) -> Bench:
    return Bench(tmp_path)


@pytest.fixture
def commit_clock(monkeypatch) -> Callable[[float], None]:
    """Sets the time PyIceberg stamps the next snapshots with, which a table's history (what time
    travel reads) records; a rollback's entry keeps the real clock."""
    moment = [time.time()]
    monkeypatch.setattr("pyiceberg.table.snapshots.time", SimpleNamespace(time=lambda: moment[0]))

    def set_to(seconds: float) -> None:
        moment[0] = seconds

    return set_to


def upload(name: str, uploaded_at: float, fingerprint: str | None = None) -> BuildSource:
    """The landing object a build read."""
    return BuildSource(key=f"landing/sales/{name}", fingerprint=fingerprint or f"etag-{name}", uploaded_at=uploaded_at)


def committed(published: Published) -> TableSnapshot:
    assert published.snapshot is not None, f"not committed: stale against {published.stale_against}"
    return published.snapshot


def iso(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).isoformat()


def read_as_of(bench: Bench, as_of: str | None) -> int | None:
    """The snapshot of the table a query ``as_of`` reads (None: the table did not exist then)."""
    snapshot = bench.catalog.pinned(bench.catalog.tables(), as_of)[TABLE]
    return snapshot.snapshot_id if snapshot else None


# -- builds and publishing --------------------------------------------------------------------
def test_build_ids_sort_by_time_and_name_the_run(monkeypatch) -> None:
    moments = iter([1_700_000_000.5, 1_700_000_000.6])
    monkeypatch.setattr("etl_platform.tables.time", SimpleNamespace(time=lambda: next(moments)))
    first, second = new_build_id("abcdef123456"), new_build_id("00000000")
    assert first == "20231114T221320500000Z-abcdef12" and first < second


def test_nothing_is_published_until_the_first_build_is(bench) -> None:
    bench.build("run-a", 3)
    assert bench.catalog.current(TABLE) is None and bench.catalog.snapshots(TABLE) == []
    assert bench.catalog.names() == [] and bench.catalog.infos() == []
    with pytest.raises(TableError, match=f"table {TABLE} has not been published yet"):
        bench.catalog.require(TABLE)


def test_each_publish_adds_one_current_snapshot_holding_exactly_its_build(bench) -> None:
    builds = [bench.build("run-a", 3), bench.build("run-b", 5, files=2), bench.build("run-c", 4)]
    published: list[TableSnapshot] = []
    for number, (key, rows) in enumerate(zip(builds, (3, 5, 4))):
        snapshot = committed(bench.publish(key, rows))
        published.append(snapshot)
        assert [s.snapshot_id for s in bench.catalog.snapshots(TABLE)] == [s.snapshot_id for s in published]
        assert bench.catalog.current(TABLE) == snapshot and snapshot.build_key == key
        assert bench.catalog.data_files(TABLE) == bench.files(key)  # and no file of the build before
        assert bench.read()["run"].to_pylist() == [f"run-{'abc'[number]}"] * rows
        assert snapshot.parent_id == (published[-2].snapshot_id if number else None)
    assert len(bench.files(builds[1])) == 2
    for key, snapshot in zip(builds, published):  # every kept snapshot still lists its own build
        assert bench.catalog.data_files(TABLE, snapshot.snapshot_id) == bench.files(key)


def test_a_snapshot_records_its_build(bench) -> None:
    key = bench.build("run-a", 3)
    source = upload("week47.csv", 1_700_000_000.25)
    build = {"rejected_rows": 2, "checks_passed": ("date_valid", "no_nulls"), "inputs": {"marketing_daily": 42}}
    snapshot = committed(bench.publish(key, 3, source=source, **build))
    assert bench.catalog.current(TABLE) == snapshot
    assert (snapshot.run_id, snapshot.rows, snapshot.rejected_rows) == ("run-a", 3, 2)
    assert (snapshot.checks_passed, snapshot.inputs, snapshot.source) == (
        ("date_valid", "no_nulls"),
        {"marketing_daily": 42},
        source,
    )
    assert (snapshot.build_key, snapshot.version) == (key, str(snapshot.snapshot_id))
    (info,) = bench.catalog.infos()
    assert (info.name, info.row_count, info.rejected_rows, info.snapshot_id, info.run_id) == (
        TABLE,
        3,
        2,
        snapshot.snapshot_id,
        "run-a",
    )
    assert info.columns == [("run", "string"), ("n", "long")] and info.location == bench.lake.uri(LOCATION)
    second = committed(bench.publish(bench.build("run-b", 1), 1))
    lines = describe_snapshots(bench.catalog.snapshots(TABLE), second.snapshot_id)
    assert (
        [line[0] for line in lines] == [" ", "*"]
        and "from landing/sales/week47.csv" in lines[0]
        and "(2 rejected)" in lines[0]
    )


# -- which build wins -------------------------------------------------------------------------
def test_a_build_from_an_earlier_upload_is_stale_and_not_committed_unless_allowed(bench) -> None:
    newer = committed(bench.publish(bench.build("run-new", 4), 4, source=upload("week48.csv", 200.0)))
    older_key = bench.build("run-old", 3)
    stale = bench.publish(older_key, 3, source=upload("week47.csv", 100.0))
    assert stale.snapshot is None and stale.stale_against == newer
    assert [s.snapshot_id for s in bench.catalog.snapshots(TABLE)] == [newer.snapshot_id]
    assert bench.catalog.data_files(TABLE) == bench.files(newer.build_key)
    forced = committed(bench.publish(older_key, 3, source=upload("week47.csv", 100.0), allow_older=True))
    assert bench.catalog.current(TABLE) == forced and forced.parent_id == newer.snapshot_id
    assert bench.catalog.data_files(TABLE) == bench.files(older_key)


def test_rebuilding_the_same_landing_object_is_not_stale(bench) -> None:
    first = committed(bench.publish(bench.build("run-a", 3), 3, source=upload("week47.csv", 200.0)))
    again = committed(bench.publish(bench.build("run-b", 3), 3, source=upload("week47.csv", 200.0)))
    # The same content uploaded again later (same ETag, newer time), then a build of the first upload:
    # same object, not stale.
    reuploaded = committed(bench.publish(bench.build("run-c", 3), 3, source=upload("week47.csv", 300.0)))
    of_first_upload = committed(bench.publish(bench.build("run-d", 3), 3, source=upload("week47.csv", 200.0)))
    # A build with no landing object (a joined table) is never stale either.
    unsourced = committed(bench.publish(bench.build("run-e", 3), 3))
    chain = [first, again, reuploaded, of_first_upload, unsourced]
    assert [s.snapshot_id for s in bench.catalog.snapshots(TABLE)] == [s.snapshot_id for s in chain]


@pytest.fixture
def meanwhile(monkeypatch) -> Callable[[str, Callable[[], object]], None]:
    """Run ``action`` once, right before (or right after) the next catalog commit: another publisher
    committing between this one's read of the table and its commit (or just after its commit)."""

    def arrange(when: str, action: Callable[[], object]) -> None:
        original = SqlCatalog.commit_table

        def commit_table(self, table, requirements, updates):
            monkeypatch.setattr(SqlCatalog, "commit_table", original)  # once
            if when == "before":
                action()
            response = original(self, table, requirements, updates)
            if when == "after":
                action()
            return response

        monkeypatch.setattr(SqlCatalog, "commit_table", commit_table)

    return arrange


def test_a_commit_that_meets_another_rereads_the_table_and_decides_again(bench, meanwhile) -> None:
    committed(bench.publish(bench.build("run-a", 1), 1, source=upload("week46.csv", 100.0)))
    newer_key, older_key = bench.build("run-new", 4), bench.build("run-old", 3)
    meanwhile("before", lambda: bench.publish(newer_key, 4, source=upload("week48.csv", 300.0)))
    outcome = bench.publish(older_key, 3, source=upload("week47.csv", 200.0))
    newer = bench.catalog.current(TABLE)
    assert newer is not None and newer.build_key == newer_key
    assert (outcome.snapshot, outcome.stale_against, outcome.attempts) == (None, newer, 2)  # judged against the newer
    rebuild_key = bench.build("run-rebuild", 4)
    other_key = bench.build("run-other", 4)
    meanwhile("before", lambda: bench.publish(other_key, 4, source=upload("week48.csv", 300.0)))
    rebuilt = bench.publish(rebuild_key, 4, source=upload("week48.csv", 300.0))
    assert rebuilt.attempts == 2 and committed(rebuilt).parent_id == bench.catalog.snapshots(TABLE)[-2].snapshot_id
    assert bench.catalog.snapshots(TABLE)[-2].build_key == other_key
    assert bench.catalog.data_files(TABLE) == bench.files(rebuild_key)


def test_publish_reports_its_own_snapshot_even_when_another_lands_right_after(bench, meanwhile) -> None:
    ours, theirs = bench.build("run-ours", 3), bench.build("run-theirs", 5)
    meanwhile("after", lambda: bench.publish(theirs, 5))
    reported = committed(bench.publish(ours, 3))
    assert (reported.build_key, reported.rows) == (ours, 3)
    assert [s.build_key for s in bench.catalog.snapshots(TABLE)] == [ours, theirs]


# -- rollback ---------------------------------------------------------------------------------
def test_rollback_restores_the_parent_in_commit_order(bench) -> None:
    a = committed(bench.publish(bench.build("run-a", 1), 1))
    b = committed(bench.publish(bench.build("run-b", 2), 2))
    assert bench.tables.rollback(TABLE) == (a, b)
    assert bench.catalog.current(TABLE) == a and bench.catalog.data_files(TABLE) == bench.files(a.build_key)
    c = committed(bench.publish(bench.build("run-c", 3), 3))
    assert c.parent_id == a.snapshot_id
    # b was committed after a and before c, but c was built on a: rolling c back restores a.
    restored, replaced = bench.tables.rollback(TABLE)
    assert (restored, replaced) == (a, c)
    assert bench.read()["run"].to_pylist() == ["run-a"]


def test_rollback_follows_parents_not_clocks(bench, commit_clock) -> None:
    """A writer whose clock is an hour behind commits b after a: b's timestamp is the older one."""
    a = committed(bench.publish(bench.build("run-a", 1), 1))
    commit_clock(time.time() - 3600)
    b = committed(bench.publish(bench.build("run-b", 2), 2))
    assert b.committed_at < a.committed_at and b.parent_id == a.snapshot_id
    assert bench.tables.rollback(TABLE) == (a, b)
    assert bench.catalog.current(TABLE) == a


def test_rollback_to_a_snapshot_id(bench) -> None:
    a = committed(bench.publish(bench.build("run-a", 1), 1))
    b = committed(bench.publish(bench.build("run-b", 2), 2))
    c = committed(bench.publish(bench.build("run-c", 3), 3))
    assert bench.tables.rollback(TABLE, to=a.snapshot_id) == (a, c)
    assert bench.tables.rollback(TABLE, to=b.snapshot_id) == (b, a)  # forward again, to any kept snapshot
    assert bench.catalog.data_files(TABLE) == bench.files(b.build_key)
    assert len(bench.catalog.snapshots(TABLE)) == 3  # rollback moves the current snapshot, it adds none


def test_rollback_errors_are_one_clear_line(bench) -> None:
    with pytest.raises(TableError, match="has not been published yet") as error:
        bench.tables.rollback(TABLE)
    messages = [str(error.value)]
    only = committed(bench.publish(bench.build("run-a", 1), 1))
    with pytest.raises(
        TableError, match=f"has no earlier snapshot to roll back to \\(kept: {only.snapshot_id}\\)"
    ) as error:
        bench.tables.rollback(TABLE)
    messages.append(str(error.value))
    with pytest.raises(TableError, match=f"has no snapshot 123; kept: {only.snapshot_id}$") as error:
        bench.tables.rollback(TABLE, to=123)
    messages.append(str(error.value))
    with pytest.raises(
        TableError, match=f"snapshot {only.snapshot_id} is already the current snapshot of {TABLE}"
    ) as error:
        bench.tables.rollback(TABLE, to=only.snapshot_id)
    messages.append(str(error.value))
    assert all("\n" not in message and TABLE in message for message in messages)
    assert bench.catalog.current(TABLE) == only


# -- retention --------------------------------------------------------------------------------
def test_expire_keeps_the_newest_and_the_current(bench) -> None:
    snapshots = [committed(bench.publish(bench.build(f"run-{i}", i + 1), i + 1)) for i in range(5)]
    ids = [s.snapshot_id for s in snapshots]
    bench.tables.rollback(TABLE, to=ids[0])
    assert bench.tables.expire(TABLE, keep=2) == ids[1:3]
    assert [s.snapshot_id for s in bench.catalog.snapshots(TABLE)] == [ids[0], ids[3], ids[4]]
    assert bench.catalog.current(TABLE) == snapshots[0]
    assert bench.read(ids[3])["run"].to_pylist() == ["run-3"] * 4
    with pytest.raises(TableError, match=f"no table has a snapshot {ids[1]}"):
        read_as_of(bench, str(ids[1]))
    assert bench.tables.expire(TABLE, keep=1) == [ids[3]]
    assert bench.tables.expire(TABLE, keep=1) == []


def _age(bench: Bench, key: str, seconds: float) -> None:
    for path in bench.lake._path(key).rglob("*"):
        if path.is_file():
            os.utime(path, (time.time() - seconds, time.time() - seconds))


def test_remove_orphans_removes_only_old_unreferenced_build_folders(bench) -> None:
    expired = committed(bench.publish(bench.build("run-expired", 1), 1))
    current = committed(bench.publish(bench.build("run-current", 2), 2))
    refused = bench.build("run-refused", 3)  # failed its checks: staged, never published
    young = bench.build("run-young", 3)  # still being written, or just refused
    half = bench.build("run-half", 3)  # one old file, one just written
    (bench.lake._path(half) / "part-00001.snappy.parquet").write_bytes(b"")
    bench.tables.expire(TABLE, keep=1)
    for key in (expired.build_key, current.build_key, refused, half):
        _age(bench, key, 2 * 3600)
    (bench.lake._path(half) / "part-00001.snappy.parquet").write_bytes(b"new")
    assert bench.tables.remove_orphans(TABLE, LOCATION, min_age_seconds=3 * 3600) == []  # nothing old enough
    removed = bench.tables.remove_orphans(TABLE, LOCATION, min_age_seconds=3600)
    assert removed == sorted(key.rsplit("/", 1)[1] for key in (expired.build_key, refused))
    assert not bench.lake._path(expired.build_key).exists() and not bench.lake._path(refused).exists()
    for kept in (current.build_key, young, half):
        assert bench.lake._path(kept).is_dir()
    assert bench.read()["run"].to_pylist() == ["run-current"] * 2
    # Two hours on, the young and half-written folders are old enough too; the current build's folder stays.
    for key in (young, half):
        _age(bench, key, 2 * 3600)
    later = bench.tables.remove_orphans(TABLE, LOCATION, min_age_seconds=3600)
    assert later == sorted(key.rsplit("/", 1)[1] for key in (young, half))
    assert bench.catalog.data_files(TABLE) == bench.files(current.build_key)


def test_maintain_applies_the_retention_settings(bench, monkeypatch) -> None:
    snapshots = [committed(bench.publish(bench.build(f"run-{i}", i + 1), i + 1)) for i in range(3)]
    monkeypatch.setenv("ETL_KEEP_VERSIONS", "2")
    monkeypatch.setenv("ETL_ORPHAN_MIN_AGE_HOURS", "0")
    expired, removed = bench.tables.maintain(TABLE, LOCATION)
    assert expired == [snapshots[0].snapshot_id] and removed == [snapshots[0].build_key.rsplit("/", 1)[1]]
    assert [s.snapshot_id for s in bench.catalog.snapshots(TABLE)] == [s.snapshot_id for s in snapshots[1:]]


def test_staged_files_refuses_incomplete_empty_or_foreign_folders(bench) -> None:
    writing = bench.build("run-writing", 3)
    (bench.lake._path(writing) / "_temporary" / "0").mkdir(parents=True)
    (bench.lake._path(writing) / "_temporary" / "0" / "part-00001.parquet").write_bytes(b"x")
    with pytest.raises(TableError, match="is still being written \\(a _temporary folder is there\\)"):
        bench.tables.staged_files(LOCATION, writing)
    empty = bench.tables.stage(LOCATION, "run-empty")
    with pytest.raises(TableError, match="holds no data file; nothing to publish"):
        bench.tables.staged_files(LOCATION, empty)
    (bench.lake._path(empty)).mkdir(parents=True)
    (bench.lake._path(empty) / "_SUCCESS").write_bytes(b"")
    with pytest.raises(TableError, match="holds no data file"):
        bench.tables.staged_files(LOCATION, empty)
    other = bench.build("run-other", 3, location="processed/marketing_daily")
    for foreign in (other, f"{LOCATION}/elsewhere/x", f"{writing}/_temporary", f"{LOCATION}/data/", f"{LOCATION}/data"):
        with pytest.raises(TableError, match=f"is not a build folder of {bench.lake.uri(LOCATION)}"):
            bench.tables.staged_files(LOCATION, foreign)
    with pytest.raises(TableError, match="still being written"):
        bench.tables.publish(TABLE, LOCATION, writing, Build("run-writing", 3))
    assert bench.catalog.names() == []  # a refused build creates nothing
    good = bench.build("run-good", 3, files=2)
    assert bench.tables.staged_files(LOCATION, good) == bench.files(good)  # the Parquet files, not _SUCCESS


def test_files_of_a_build_never_published_never_appear_in_any_snapshot(bench) -> None:
    a = committed(bench.publish(bench.build("run-a", 1), 1, source=upload("w1.csv", 100.0)))
    never = bench.build("run-never", 2)  # failed its checks
    stale = bench.build("run-stale", 3)
    b = committed(bench.publish(bench.build("run-b", 4), 4, source=upload("w3.csv", 300.0)))
    assert bench.publish(stale, 3, source=upload("w2.csv", 200.0)).snapshot is None
    bench.tables.rollback(TABLE)
    unpublished = set(bench.files(never) + bench.files(stale))
    for snapshot in bench.catalog.snapshots(TABLE):
        assert not unpublished & set(bench.catalog.data_files(TABLE, snapshot.snapshot_id))
        assert set(bench.read(snapshot.snapshot_id)["run"].to_pylist()) <= {"run-a", "run-b"}
    assert {s.snapshot_id for s in bench.catalog.snapshots(TABLE)} == {a.snapshot_id, b.snapshot_id}


# -- time travel ------------------------------------------------------------------------------
def test_time_travel_by_snapshot_id_and_by_time(bench, commit_clock) -> None:
    before = time.time() - 3600  # an hour ago: a commits a minute later, b a minute after a
    commit_clock(before + 60)
    a = committed(bench.publish(bench.build("run-a", 1), 1))
    after_a = before + 90
    commit_clock(before + 120)
    b = committed(bench.publish(bench.build("run-b", 2), 2))
    after_b = before + 150
    bench.tables.rollback(TABLE)
    after_rollback = time.time()
    assert read_as_of(bench, None) == a.snapshot_id  # current
    assert read_as_of(bench, str(b.snapshot_id)) == b.snapshot_id
    assert read_as_of(bench, iso(after_a)) == a.snapshot_id
    assert read_as_of(bench, iso(after_b)) == b.snapshot_id  # what was current then, before the rollback
    assert read_as_of(bench, iso(after_rollback)) == a.snapshot_id
    naive = datetime.fromtimestamp(after_b, UTC).replace(tzinfo=None).isoformat()
    assert read_as_of(bench, naive) == b.snapshot_id  # a time without a zone is UTC
    assert read_as_of(bench, iso(before)) is None  # the table had no snapshot yet
    with pytest.raises(TableError, match="no table has a snapshot 123; etl-platform versions TABLE lists"):
        read_as_of(bench, "123")
    with pytest.raises(TableError, match="'yesterday' is neither a snapshot id nor an ISO time"):
        read_as_of(bench, "yesterday")
    assert bench.read(b.snapshot_id)["run"].to_pylist() == ["run-b"] * 2


def test_an_independent_pyiceberg_client_reads_what_the_project_published(bench) -> None:
    first = committed(bench.publish(bench.build("run-a", 3), 3))
    committed(bench.publish(bench.build("run-b", 5, files=2), 5))
    uri, warehouse = f"sqlite:///{bench.root}/catalog.db", str(bench.root)
    # PyIceberg's SQL catalog keys tables by catalog name: an outside client opens it as "etl_platform".
    outside = SqlCatalog("etl_platform", uri=uri, warehouse=warehouse).load_table(("etl_platform", TABLE))
    assert outside.scan().to_arrow().sort_by("n") == bench.read()
    assert outside.scan().to_arrow().sort_by("n") == pa.table({"run": ["run-b"] * 5, "n": list(range(5))})
    assert outside.scan(snapshot_id=first.snapshot_id).to_arrow().sort_by("n") == bench.read(first.snapshot_id)
    with pytest.raises(NoSuchTableError):
        SqlCatalog("x", uri=uri, warehouse=warehouse).load_table(("etl_platform", TABLE))


def test_data_files_without_an_extension_are_published_and_markers_are_not(bench) -> None:
    """Athena's UNLOAD names its Parquet files with no extension; Spark leaves _SUCCESS and .crc files."""
    build = bench.tables.stage(LOCATION, "run-unload")
    folder = bench.lake._path(build)
    folder.mkdir(parents=True)
    pq.write_table(pa.table({"n": [1, 2]}), folder / "20261130_093012_00001_abcde_1f2e3d4c")
    for marker in ("_SUCCESS", ".20261130_093012_00001_abcde_1f2e3d4c.crc", "part-0.parquet.crc"):
        (folder / marker).write_bytes(b"")
    (folder / "_charts").mkdir()
    (folder / "_charts" / "heatmap.png").write_bytes(b"\x89PNG")
    assert bench.tables.staged_files(LOCATION, build) == [str(folder / "20261130_093012_00001_abcde_1f2e3d4c")]
    snapshot = bench.tables.publish(TABLE, LOCATION, build, Build("run-unload", 2)).snapshot
    assert bench.catalog.data_files(TABLE, snapshot.snapshot_id) == [
        str(folder / "20261130_093012_00001_abcde_1f2e3d4c")
    ]


def _custom_build(bench, run_id: str, table: pa.Table) -> str:
    key = bench.tables.stage(LOCATION, run_id)
    bench.lake._path(key).mkdir(parents=True)
    pq.write_table(table, bench.lake._path(key) / "part-00000.parquet")
    return key


def test_the_table_schema_follows_each_build_and_older_snapshots_keep_theirs(bench) -> None:
    """A landing file with an extra column (kept by marketing_daily) and then one without it: each
    snapshot holds exactly its build, columns included."""
    first = committed(bench.tables.publish(TABLE, LOCATION, bench.build("run-1", 2), Build("run-1", 2)))
    wider = _custom_build(bench, "run-2", pa.table({"run": ["run-2"], "n": [7], "extra": ["x"]}))
    committed(bench.tables.publish(TABLE, LOCATION, wider, Build("run-2", 1)))
    assert bench.catalog.require(TABLE).schema().column_names == ["run", "n", "extra"]
    assert bench.catalog.require(TABLE).scan().to_arrow().to_pylist() == [{"run": "run-2", "n": 7, "extra": "x"}]
    assert DuckDBEngine(catalog=bench.catalog).query(f"select extra from {TABLE}").rows == [("x",)]
    committed(bench.tables.publish(TABLE, LOCATION, bench.build("run-3", 1), Build("run-3", 1)))
    assert bench.catalog.require(TABLE).schema().column_names == ["run", "n"]
    assert bench.catalog.require(TABLE).scan(snapshot_id=first.snapshot_id).to_arrow().num_rows == 2


def test_a_build_whose_column_changed_type_is_refused_in_one_line(bench) -> None:
    committed(bench.tables.publish(TABLE, LOCATION, bench.build("run-1", 2), Build("run-1", 2)))
    retyped = _custom_build(bench, "run-2", pa.table({"run": ["run-2"], "n": ["seven"]}))
    with pytest.raises(
        TableError,
        match=f"^{TABLE}: the build's columns do not fit the table: Cannot change column type: n: long -> string$",
    ):
        bench.tables.publish(TABLE, LOCATION, retyped, Build("run-2", 1))
    assert [s.run_id for s in bench.catalog.snapshots(TABLE)] == ["run-1"]
