"""Write-audit-publish on a real folder: staging, atomic publish, history, rollback, retention."""

import json
import threading

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from etl_platform.resources import LocalLake
from etl_platform.versions import POINTER, TableVersions, VersionError, new_version_id, retention


def _build(lake: LocalLake, versions: TableVersions, run_id: str, rows: int) -> str:
    """What a Spark script leaves in its staged location: Parquet files and a _SUCCESS marker."""
    staged = versions.stage(run_id)
    path = lake._path(staged)
    path.mkdir(parents=True)
    pq.write_table(pa.table({"n": list(range(rows))}), path / "part-00000.snappy.parquet")
    (path / "_SUCCESS").write_bytes(b"")
    return staged


@pytest.fixture
def lake(tmp_path) -> LocalLake:
    return LocalLake(root=str(tmp_path))


def test_version_ids_sort_by_time_and_name_the_run() -> None:
    first, second = new_version_id("abcdef123456", 1_700_000_000.5), new_version_id("00000000", 1_700_000_000.6)
    assert first == "20231114T221320500000Z-abcdef12" and first < second


def test_nothing_is_current_until_published(lake) -> None:
    versions = TableVersions(lake, "processed/t")
    staged = _build(lake, versions, "run-a", 3)
    assert versions.current() is None
    with pytest.raises(VersionError, match="no published version yet"):
        versions.require_current()
    published = versions.publish(staged, "run-a", 3, ("date_valid",))
    assert versions.require_current() == published
    assert (published.key, published.rows, published.checks_passed) == (staged, 3, ("date_valid",))
    pointer = json.loads(lake.read_bytes(f"processed/t/{POINTER}"))
    assert pointer["current"]["key"] == staged and [v["version"] for v in pointer["history"]] == [published.version]


def test_a_version_records_the_landing_rows_it_left_out_and_keeps_them_through_rollback(lake) -> None:
    versions = TableVersions(lake, "processed/t")
    partial = versions.publish(_build(lake, versions, "run-a", 3), "run-a", 3, rejected_rows=2)
    whole = versions.publish(_build(lake, versions, "run-b", 4), "run-b", 4)
    assert (partial.rejected_rows, whole.rejected_rows) == (2, 0)
    assert json.loads(lake.read_bytes(f"processed/t/{POINTER}"))["history"][0]["rejected_rows"] == 2
    assert versions.rollback().rejected_rows == 2 and versions.require_current().rejected_rows == 2


def test_publish_refuses_incomplete_or_foreign_locations(lake) -> None:
    versions = TableVersions(lake, "processed/t")
    staged = versions.stage("run-a")
    with pytest.raises(VersionError, match="holds no Parquet file"):
        versions.publish(staged, "run-a", 5)
    staged = _build(lake, versions, "run-b", 5)
    (lake._path(staged) / "_temporary" / "0").mkdir(parents=True)
    (lake._path(staged) / "_temporary" / "0" / "part.parquet").write_bytes(b"x")
    with pytest.raises(VersionError, match="still being written"):
        versions.publish(staged, "run-b", 5)
    with pytest.raises(VersionError, match="is not a version of processed/t"):
        versions.publish("processed/other/_versions/x", "run-c", 1)
    assert versions.current() is None


def test_rollback_restores_the_previous_version_and_records_where_from(lake) -> None:
    versions = TableVersions(lake, "processed/t")
    first = versions.publish(_build(lake, versions, "run-a", 1), "run-a", 1)
    second = versions.publish(_build(lake, versions, "run-b", 2), "run-b", 2)
    restored = versions.rollback()
    assert (restored.version, restored.rows, restored.rolled_back_from) == (first.version, 1, second.version)
    assert versions.require_current().key == first.key
    with pytest.raises(VersionError, match="no earlier version"):
        versions.rollback()
    forward = versions.rollback(to=second.version)
    assert forward.key == second.key
    with pytest.raises(VersionError, match="no published version 'nope'"):
        versions.rollback(to="nope")
    with pytest.raises(VersionError, match="already the current version"):
        versions.rollback(to=second.version)


def test_prune_keeps_the_newest_published_and_in_flight_builds(lake) -> None:
    versions = TableVersions(lake, "processed/t")
    published = [versions.publish(_build(lake, versions, f"run-{i}", i + 1), f"run-{i}", i + 1) for i in range(4)]
    failed_audit = _build(lake, versions, "run-bad", 1)  # staged, never published
    newest = versions.publish(_build(lake, versions, "run-5", 9), "run-5", 9)
    in_flight = _build(lake, versions, "run-6", 1)  # newer than every publish: may still be writing
    removed = versions.prune(keep=2)
    assert removed == [published[0].version, published[1].version, published[2].version, failed_audit.rsplit("/", 1)[1]]
    assert versions.staged_versions() == [published[3].version, newest.version, in_flight.rsplit("/", 1)[1]]
    assert pq.read_table(lake.uri(versions.require_current().key)).num_rows == 9


def test_retention_comes_from_the_environment(monkeypatch) -> None:
    assert retention() == 5
    monkeypatch.setenv("ETL_KEEP_VERSIONS", "2")
    assert retention() == 2
    monkeypatch.setenv("ETL_KEEP_VERSIONS", "0")
    with pytest.raises(ValueError, match="at least 1"):
        retention()


def test_readers_never_see_a_partial_or_mixed_table_while_publishing(lake) -> None:
    """A reader loop resolves the pointer and counts rows while versions are published one after another."""
    versions = TableVersions(lake, "processed/t")
    sizes = [100 * (i + 1) for i in range(12)]
    staged = [_build(lake, versions, f"run-{i}", rows) for i, rows in enumerate(sizes)]
    versions.publish(staged[0], "run-0", sizes[0])
    seen: list[int] = []
    done = threading.Event()

    def read() -> None:
        while not done.is_set():
            current = versions.require_current()
            seen.append(pq.read_table(lake.uri(current.key)).num_rows)

    reader = threading.Thread(target=read)
    reader.start()
    for key, rows in zip(staged[1:], sizes[1:]):
        versions.publish(key, "run", rows)
    done.set()
    reader.join()
    assert seen and set(seen) <= set(sizes)  # every read is one whole version
    assert seen == sorted(seen)  # and never goes back to an older one


def test_concurrent_publishers_leave_one_whole_current_version(lake) -> None:
    versions = TableVersions(lake, "processed/t")
    staged = [_build(lake, versions, f"run-{i}", i + 1) for i in range(8)]
    threads = [threading.Thread(target=versions.publish, args=(key, f"run-{i}", i + 1)) for i, key in enumerate(staged)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    pointer = versions.pointer()
    assert pointer is not None and len(pointer.history) == 8  # no publish lost its history entry
    assert pointer.current == pointer.history[-1]
    assert pq.read_table(lake.uri(pointer.current.key)).num_rows == pointer.current.rows
