"""Concurrent publishing with real processes: builds of the same table committed at the same moment,
locally (SQLite catalog) and on the Glue catalog (moto), never lose a snapshot or mix two builds.

Each publisher is its own Python process (``etl_platform_tests.publisher``). Every round, each one
stages a build of the same table, says it is ready and waits for the test's go signal, so that all
of them call ``publish`` together and their commits overlap. Meanwhile a reader keeps reading the
table.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto.server import ThreadedMotoServer
from pyiceberg.catalog.glue import GlueCatalog
from pyiceberg.exceptions import CommitFailedException, NoSuchTableError

from etl_platform.project import PROJECT_ROOT
from etl_platform.resources.catalog import GlueTableCatalog, SqlTableCatalog, TableCatalog
from etl_platform.spark_service import free_port
from etl_platform_tests.aws.moto_glue import glue_update_table_honours_version_id

TABLE, LOCATION = "sales_daily", "processed/sales_daily"
REGION, BUCKET, DATABASE = "us-east-1", "etl-data", "etl_platform"
PROCESS_TIMEOUT = 180.0


# -- the publishers ---------------------------------------------------------------------------
def plan_rounds(publishers: int, rounds: int, seed: int) -> list[list[dict[str, Any]]]:
    """Each publisher's rounds. Even rounds rebuild one landing object (every build must commit);
    odd rounds build different uploads, the newest from a random publisher (the newest must win)."""
    chance = random.Random(seed)
    plan: list[list[dict[str, Any]]] = [[] for _ in range(publishers)]
    for number in range(rounds):
        order = list(range(publishers))
        chance.shuffle(order)
        for index in range(publishers):
            if number % 2 == 0:
                source = {
                    "key": f"landing/sales/r{number}.csv",
                    "fingerprint": f"etag-r{number}",
                    "uploaded_at": 1000.0 * (number + 1),
                }
            else:
                uploaded = 1000.0 * (number + 1) + order[index]
                source = {
                    "key": f"landing/sales/r{number}-{index}.csv",
                    "fingerprint": f"etag-r{number}-{index}",
                    "uploaded_at": uploaded,
                }
            plan[index].append({"rows": 10 + 100 * number + 7 * index, "source": source})
    return plan


def wait_until(condition: Callable[[], bool], processes: list[subprocess.Popen], logs: Path, what: str) -> None:
    """Wait for ``condition``, failing with the publishers' stderr if one of them fails or hangs."""
    deadline = time.monotonic() + PROCESS_TIMEOUT
    while True:
        done = condition()
        if any(p.poll() not in (None, 0) for p in processes) or (not done and time.monotonic() > deadline):
            stderr = "\n".join(path.read_text()[-3000:] for path in sorted(logs.glob("*.stderr")))
            raise AssertionError(f"publishers failed or hung waiting for {what}:\n{stderr}")
        if done:
            return
        time.sleep(0.005)


def publish_concurrently(
    tmp_path: Path,
    lake: dict[str, Any],
    catalog: dict[str, Any],
    plan: list[list[dict[str, Any]]],
    after_round: Callable[[int, list[dict[str, Any]]], None],
) -> list[dict[str, Any]]:
    """Run one process per publisher; release each round's publishes at once; call ``after_round``
    with a round's results while the table is quiet (every publisher is staged for the next round)."""
    barrier = tmp_path / "barrier"
    barrier.mkdir()
    names = [f"p{index}" for index in range(len(plan))]
    processes = []
    for name, rounds in zip(names, plan):
        spec = {
            "lake": lake,
            "catalog": catalog,
            "table": TABLE,
            "location": LOCATION,
            "name": name,
            "barrier": str(barrier),
            "rounds": rounds,
        }
        (barrier / f"{name}.json").write_text(json.dumps(spec))
        with open(barrier / f"{name}.stdout", "wb") as out, open(barrier / f"{name}.stderr", "wb") as err:
            processes.append(
                subprocess.Popen(
                    [sys.executable, "-m", "etl_platform_tests.publisher", str(barrier / f"{name}.json")],
                    cwd=PROJECT_ROOT,
                    env=dict(os.environ),
                    stdout=out,
                    stderr=err,
                )
            )

    def results(number: int) -> list[dict[str, Any]]:
        return [json.loads((barrier / f"result-{number}-{name}.json").read_text()) for name in names]

    everything: list[dict[str, Any]] = []
    try:
        for number in range(len(plan[0])):
            wait_until(
                lambda: all((barrier / f"ready-{number}-{n}").exists() for n in names),
                processes,
                barrier,
                f"round {number}",
            )
            if number:
                everything += results(number - 1)
                after_round(number - 1, results(number - 1))
            (barrier / f"go-{number}").touch()
        wait_until(lambda: all(p.poll() is not None for p in processes), processes, barrier, "the last round")
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()
    everything += results(len(plan[0]) - 1)
    after_round(len(plan[0]) - 1, results(len(plan[0]) - 1))
    return everything


# -- the reader -------------------------------------------------------------------------------
class Reader(threading.Thread):
    """Reads the whole table over and over while it is published: which builds its rows came from."""

    def __init__(self, catalog: TableCatalog, pause: float):
        super().__init__(daemon=True)
        self.catalog, self.pause = catalog, pause
        self.done = threading.Event()
        self.seen: list[tuple[frozenset[str], int]] = []
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            client = self.catalog.load()  # one client, as a long-lived reader would hold
            while True:
                finished = self.done.is_set()  # one last read once publishing is over
                try:
                    table = client.load_table(self.catalog.identifier(TABLE))
                except NoSuchTableError:
                    table = None
                if table is not None and table.current_snapshot() is not None:
                    rows = table.scan().to_arrow()
                    self.seen.append((frozenset(rows["build"].to_pylist()), rows.num_rows))
                if finished:
                    return
                time.sleep(self.pause)  # leave the (busy) machine to the publishers and moto
        except BaseException as error:  # re-raised by stop(), in the test
            self.error = error

    def stop(self) -> list[tuple[frozenset[str], int]]:
        self.done.set()
        self.join(PROCESS_TIMEOUT)
        if self.error is not None:
            raise self.error
        return self.seen


# -- the checks -------------------------------------------------------------------------------
def check_round(
    catalog: TableCatalog, plan: list[list[dict[str, Any]]], number: int, results: list[dict[str, Any]]
) -> None:
    """After a round: every publish committed or was stale, and the newest upload's build is current."""
    for result in results:
        assert "error" not in result, result.get("error")
        assert (result["committed"] is None) != (result["stale_against"] is None), result
    sources = [rounds[number]["source"] for rounds in plan]
    built = {result["build_key"]: result for result in results}
    current = catalog.current(TABLE)
    assert current is not None and current.build_key in built  # one of this round's builds, whole
    if number % 2 == 0:
        assert all(result["committed"] for result in results), "rebuilds of one landing object are never stale"
    else:
        newest = max(range(len(results)), key=lambda index: sources[index]["uploaded_at"])
        assert current.build_key == results[newest]["build_key"], "the newest upload wins"
    assert catalog.data_files(TABLE) == built[current.build_key]["files"]
    for index, result in enumerate(results):
        if result["stale_against"] is not None:
            against = next(s for s in catalog.snapshots(TABLE) if s.snapshot_id == result["stale_against"])
            assert against.source is not None and against.source.uploaded_at > sources[index]["uploaded_at"]


def check_history(catalog: TableCatalog, plan: list[list[dict[str, Any]]], results: list[dict[str, Any]]) -> None:
    committed = [result for result in results if result["committed"] is not None]
    snapshots = catalog.snapshots(TABLE)
    # No lost snapshot: every committed publish is one snapshot of the history, and nothing else is.
    assert len(snapshots) == len(committed)
    assert {s.snapshot_id for s in snapshots} == {result["committed"] for result in committed}
    # Each publisher was told about its own snapshot, not one that landed just after it.
    assert all(result["committed_build_key"] == result["build_key"] for result in committed)
    # One line of history, each snapshot committed on the one before, uploads never going back.
    assert [s.parent_id for s in snapshots] == [None] + [s.snapshot_id for s in snapshots[:-1]]
    uploads = [s.source.uploaded_at for s in snapshots if s.source]
    assert len(uploads) == len(snapshots) and uploads == sorted(uploads)
    # Every snapshot holds exactly its own build's files: never two builds mixed.
    files = {result["build_key"]: result["files"] for result in results}
    for snapshot in snapshots:
        assert catalog.data_files(TABLE, snapshot.snapshot_id) == files[snapshot.build_key]
    # The commits really met: some publish had to re-read the table and decide again.
    assert max(result["attempts"] for result in results) > 1


def check_reads(seen: list[tuple[frozenset[str], int]], plan: list[list[dict[str, Any]]]) -> None:
    rows = {
        f"p{index}-round{number}": r["rows"] for index, rounds in enumerate(plan) for number, r in enumerate(rounds)
    }
    assert seen
    for labels, count in seen:
        assert len(labels) == 1, f"a read mixed builds {sorted(labels)}"
        assert count == rows[next(iter(labels))]


def run_and_check(
    tmp_path: Path,
    lake: dict[str, Any],
    catalog_spec: dict[str, Any],
    catalog: TableCatalog,
    publishers: int,
    rounds: int,
    read_pause: float,
) -> None:
    plan = plan_rounds(publishers, rounds, seed=publishers * 100 + rounds)
    reader = Reader(catalog, read_pause)
    reader.start()
    try:
        results = publish_concurrently(
            tmp_path, lake, catalog_spec, plan, lambda n, r: check_round(catalog, plan, n, r)
        )
    finally:
        seen = reader.stop()
    check_history(catalog, plan, results)
    check_reads(seen, plan)


# -- locally ----------------------------------------------------------------------------------
def test_concurrent_publishes_on_the_sqlite_catalog_lose_no_snapshot_and_never_mix_builds(tmp_path) -> None:
    lake_root = tmp_path / "lake"
    catalog_spec = {"uri": f"sqlite:///{lake_root}/catalog.db", "warehouse": str(lake_root)}
    run_and_check(
        tmp_path,
        {"root": str(lake_root)},
        catalog_spec,
        SqlTableCatalog(**catalog_spec),
        publishers=3,
        rounds=4,
        read_pause=0.02,
    )


# -- on the Glue catalog, in moto -------------------------------------------------------------
@pytest.fixture(scope="module")
def _moto_server() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=free_port(), verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def moto(fake_aws_credentials, _moto_server, monkeypatch) -> str:
    """An empty moto account with the data bucket and the Glue database; its endpoint URL. Only the
    credentials come from the environment: every client is pointed at moto by ``endpoint_url``."""
    urllib.request.urlopen(urllib.request.Request(f"{_moto_server}/moto-api/reset", method="POST")).close()
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    boto3.client("s3", region_name=REGION, endpoint_url=_moto_server).create_bucket(Bucket=BUCKET)
    boto3.client("glue", region_name=REGION, endpoint_url=_moto_server).create_database(
        DatabaseInput={"Name": DATABASE}
    )
    return _moto_server


def _plain_glue_table(glue) -> str:
    glue.create_table(DatabaseName=DATABASE, TableInput={"Name": "t", "Parameters": {"n": "0"}})
    return glue.get_table(DatabaseName=DATABASE, Name="t")["Table"]["VersionId"]


def test_moto_alone_ignores_a_stale_glue_version_id(moto) -> None:
    """The gap ``moto_glue`` fills (if this fails, moto checks VersionId itself: drop the patch)."""
    glue = boto3.client("glue", region_name=REGION, endpoint_url=moto)
    read = _plain_glue_table(glue)
    glue.update_table(DatabaseName=DATABASE, TableInput={"Name": "t", "Parameters": {"n": "1"}}, VersionId=read)
    glue.update_table(DatabaseName=DATABASE, TableInput={"Name": "t", "Parameters": {"n": "2"}}, VersionId=read)
    assert glue.get_table(DatabaseName=DATABASE, Name="t")["Table"]["Parameters"] == {
        "n": "2"
    }  # the first update is lost


def test_with_the_patch_a_stale_glue_version_id_is_refused_as_on_aws(moto) -> None:
    glue = boto3.client("glue", region_name=REGION, endpoint_url=moto)
    read = _plain_glue_table(glue)
    with glue_update_table_honours_version_id():
        glue.update_table(DatabaseName=DATABASE, TableInput={"Name": "t", "Parameters": {"n": "1"}}, VersionId=read)
        with pytest.raises(glue.exceptions.ConcurrentModificationException, match="concurrent modifications"):
            glue.update_table(DatabaseName=DATABASE, TableInput={"Name": "t", "Parameters": {"n": "2"}}, VersionId=read)
        table = glue.get_table(DatabaseName=DATABASE, Name="t")["Table"]
        assert table["Parameters"] == {"n": "1"} and int(table["VersionId"]) == int(read) + 1
        glue.update_table(
            DatabaseName=DATABASE, TableInput={"Name": "t", "Parameters": {"n": "3"}}, VersionId=table["VersionId"]
        )
        glue.update_table(
            DatabaseName=DATABASE, TableInput={"Name": "t", "Parameters": {"n": "4"}}
        )  # no VersionId: no check
    assert glue.get_table(DatabaseName=DATABASE, Name="t")["Table"]["Parameters"] == {"n": "4"}


def test_with_the_patch_pyiceberg_sees_a_glue_commit_race_as_commit_failed(moto) -> None:
    """Another commit lands between PyIceberg's read of the Glue table and its UpdateTable: on AWS
    (and with the patch) that is CommitFailedException, which ``LakeTables.publish`` retries."""
    import pyarrow as pa

    catalog = GlueTableCatalog(region_name=REGION, endpoint_url=moto)
    identifier = catalog.identifier("t")
    catalog.load().create_table(
        identifier, schema=pa.schema([("n", pa.int64())]), location=f"s3://{BUCKET}/processed/t"
    )
    ours = catalog.connect()  # a connection of its own: the other commit goes through load()
    original = ours._update_glue_table

    def meanwhile_another_commit(**arguments: Any) -> None:
        catalog.load().load_table(identifier).transaction().set_properties(other="landed").commit_transaction()
        original(**arguments)

    ours._update_glue_table = meanwhile_another_commit  # type: ignore[method-assign]
    with glue_update_table_honours_version_id():
        with pytest.raises(CommitFailedException, match="concurrent update"):
            ours.load_table(identifier).transaction().set_properties(mine="lost?").commit_transaction()
    assert catalog.require("t").properties.get("other") == "landed" and "mine" not in catalog.require("t").properties


def test_glue_catalog_reads_and_writes_s3_through_the_endpoint_url_alone(moto) -> None:
    """GlueTableCatalog's endpoint_url reaches both Glue and PyArrow's S3 (credentials from the
    environment, no AWS_ENDPOINT_URL, no path-style or key properties needed)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    catalog = GlueTableCatalog(region_name=REGION, endpoint_url=moto)
    assert "AWS_ENDPOINT_URL" not in os.environ
    table = catalog.load().create_table(
        catalog.identifier("t"), schema=pa.schema([("n", pa.int64())]), location=f"s3://{BUCKET}/t"
    )
    table.append(pa.table({"n": pa.array([1, 2, 3], pa.int64())}))
    assert catalog.require("t").scan().to_arrow()["n"].to_pylist() == [1, 2, 3]
    (written,) = catalog.data_files("t")
    assert written.startswith(f"s3://{BUCKET}/t/data/")
    body = boto3.client("s3", region_name=REGION, endpoint_url=moto).get_object(
        Bucket=BUCKET, Key=written.removeprefix(f"s3://{BUCKET}/")
    )["Body"]
    assert pq.read_table(pa.BufferReader(body.read())).num_rows == 3
    assert isinstance(catalog.load(), GlueCatalog)


def test_concurrent_publishes_on_the_glue_catalog_lose_no_snapshot_and_never_mix_builds(moto, tmp_path) -> None:
    lake = {"bucket": BUCKET, "endpoint_url": moto, "region_name": REGION}
    catalog_spec = {"region_name": REGION, "endpoint_url": moto}
    with glue_update_table_honours_version_id():
        run_and_check(
            tmp_path, lake, catalog_spec, GlueTableCatalog(**catalog_spec), publishers=3, rounds=2, read_pause=0.2
        )
