"""The platform under its running daemon: land -> joined table published, with ``dagster dev``.

``platform_daemon`` measures what a user of ``make dev`` waits for, polling intervals included
(the settings' own, never overridden here): ``dagster dev`` started exactly as ``make dev`` starts
it (``python -m etl_platform.spark_service -- dagster dev``, so with a Spark Connect server of its
own), on a fresh lake and Dagster home; then two cycles, each timed from the moment both input
files start landing (the lake resource's ``put_file``, what ``etl-platform land`` does) until the
catalog's joined table has a snapshot built on both of them (its ``built_at``):

* **cold**: the first cycle after the start, on a fresh JVM;
* **warm**: the same files landed again under new names (an arrival sensor reacts to new
  objects) once the first cycle's runs, the report after the join included, have ended.

Each cycle's runs (Dagster's GraphQL API: created, started, ended, steps) give a breakdown of the
seconds: waiting for an arrival sensor's tick, the arrival runs, waiting for the automation
sensor's tick (the join barrier), the join run's launch, the join run until published. Peak RSS is
over the wrapper's process tree (the webserver, the daemon, code servers, run workers, the JVM).
Only at 1x: the daemon's latency is about start-up costs and intervals, not volume.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import psutil

from benchmarks.inputs import Inputs
from benchmarks.outputs import describe_table
from benchmarks.platform_runs import INPUT_FILES
from benchmarks.rss import PeakRss, describe
from etl_platform.datasets import REGISTRY
from etl_platform.environment import local_resources
from etl_platform.instance import ensure_dagster_home
from etl_platform.project import PROJECT_ROOT
from etl_platform.resources import Lake, TableCatalog
from etl_platform.resources.catalog import TableSnapshot
from etl_platform.settings import exported, get_settings, subprocess_environment
from etl_platform.spark_service import free_port

SCALES = (1,)  # the scales it is measured at
DEADLINE_SECONDS = 300  # for each wait: the UI and sensors up, a joined table, runs ended
CATALOG_POLL_SECONDS = 0.25
POLL_SECONDS = 0.5
STOP_SECONDS = 60  # for the wrapper after SIGTERM, then for what it started
RUNS_IN_PROGRESS = "{ runsOrError(filter: {statuses: [QUEUED, NOT_STARTED, STARTING, STARTED]}) { ... on Runs { results { runId } } } }"
RUNS_CREATED_AFTER = (
    "{ runsOrError(filter: {createdAfter: %r}) { __typename ... on Runs { results { runId status creationTime "
    "startTime endTime assetSelection { path } stepStats { stepKey startTime endTime } } } "
    "... on PythonError { message } } }"
)
PHASES = ("sensor wait", "arrival runs", "automation wait", "join launch", "join run")
T = TypeVar("T")


def applies(scale: float) -> bool:
    return scale in SCALES


@dataclass
class Daemon:
    """A running ``dagster dev`` (its wrapper process), its port and log, and the lake and catalog
    it works on, as this process reaches them."""

    wrapper: subprocess.Popen
    port: int
    log: Path
    lake: Lake
    catalog: TableCatalog
    peak: PeakRss | None = None  # over the wrapper's process tree, from its start until it is stopped
    left_running: list[str] = field(default_factory=list)  # killed after the stop (see ``stop``)


def graphql(port: int, query: str) -> dict:
    """The data of a GraphQL query to the webserver on ``port``."""
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql",
        data=json.dumps({"query": query}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        body = json.load(response)
    if body.get("errors"):
        raise RuntimeError(f"GraphQL error: {body['errors'][0].get('message')}")
    return body["data"]


def wait_for(
    daemon: Daemon,
    condition: Callable[[], T | None],
    what: str,
    deadline_seconds: float = DEADLINE_SECONDS,
    poll: float = POLL_SECONDS,
) -> T:
    """The condition's first true value; an error naming ``what`` when ``dagster dev`` exits first
    or the deadline passes."""
    deadline = time.monotonic() + deadline_seconds
    while True:
        try:
            value = condition()
        except OSError:  # the webserver not answering yet
            value = None
        if value:
            return value
        if daemon.wrapper.poll() is not None:
            raise RuntimeError(f"dagster dev exited with status {daemon.wrapper.returncode} before {what}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} not within {deadline_seconds:g} s (dagster dev's log is in the bench log)")
        time.sleep(poll)


def child_environment(**overrides: str) -> dict[str, str]:
    """This process's environment with ``overrides``, without ``ETL_SPARK_REMOTE``: the wrapper starts
    a server of its own, as under ``make dev``. ``ETL_SPARK_RETRIES`` is carried over (the harness's 0)."""
    env = subprocess_environment(**overrides)
    env.pop("ETL_SPARK_REMOTE", None)
    return env


def sensors_started(log: Path) -> bool:
    text = log.read_text(errors="replace")
    return all(f"{dataset.name}_arrival_sensor" in text for dataset in REGISTRY.inputs)


def stop(wrapper: subprocess.Popen) -> list[str]:
    """SIGTERM to the wrapper alone, as ``make`` sends it; if it does not end in time, its process
    group (it and the server) and that of ``dagster dev`` are killed. Then whatever it started and
    is still running after ``STOP_SECONDS`` is killed too: those are returned, described."""
    try:
        root = psutil.Process(wrapper.pid)
        tree = root.children(recursive=True)
        command_groups = [child.pid for child in root.children() if child.name() != "java"]
    except psutil.Error:
        tree, command_groups = [], []
    wrapper.terminate()
    try:
        wrapper.wait(timeout=STOP_SECONDS)
    except subprocess.TimeoutExpired:
        for group in [wrapper.pid, *command_groups]:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(group, signal.SIGKILL)
        wrapper.wait()
    _, alive = psutil.wait_procs(tree, timeout=STOP_SECONDS)
    left = []
    for process in alive:
        left.append(f"{process.pid} {describe(process)}")
        with contextlib.suppress(psutil.Error):
            process.kill()
    return left


@contextmanager
def running_daemon(work_dir: Path, bench_log: Path) -> Iterator[Daemon]:
    """``dagster dev`` as ``make dev`` runs it, on a fresh lake, home and alerts file under ``work_dir``,
    until the UI answers and the arrival sensors have ticked; stopped (and its log appended to the
    bench log) afterwards."""
    root = Path(tempfile.mkdtemp(prefix="daemon-", dir=work_dir))
    lake_root, home, log = root / "lake", root / "dagster_home", root / "dagster_dev.log"
    lake_root.mkdir()
    variables = {"ETL_LAKE_ROOT": str(lake_root), "ETL_ALERTS_FILE": str(root / "alerts.jsonl")}
    with exported(DAGSTER_HOME=str(home)):
        ensure_dagster_home()  # the project's instance settings, pool limits included, as `make dev` has
    with exported(**variables):
        resources = local_resources()
    port = free_port()
    dagster = str(Path(sys.executable).parent / "dagster")
    with open(log, "wb") as out:
        wrapper = subprocess.Popen(
            [sys.executable, "-m", "etl_platform.spark_service", "--", dagster, "dev", "-p", str(port)],
            cwd=PROJECT_ROOT,
            env=child_environment(DAGSTER_HOME=str(home), **variables),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    daemon = Daemon(wrapper, port, log, resources["lake"], resources["catalog"])
    try:
        with PeakRss(wrapper.pid) as daemon.peak:
            wait_for(
                daemon,
                lambda: sensors_started(log) and graphql(port, "{ version }"),
                "the UI and the arrival sensors up",
            )
            yield daemon
    finally:
        daemon.left_running = stop(wrapper)
        with open(bench_log, "ab") as out:
            out.write(f"\n===== dagster dev ({log}), exit status {wrapper.returncode} =====\n".encode())
            out.write(log.read_bytes())
            if daemon.left_running:
                out.write(f"===== still running after the stop, killed: {daemon.left_running}\n".encode())
        shutil.rmtree(root, ignore_errors=True)


def land_all(lake: Lake, inputs: Inputs, prefix: str = "") -> dict[str, str]:
    """Both input files into their landing prefixes, as ``etl-platform land`` puts them (under
    ``prefix`` + their file name): the landed key per processed table."""
    landed = {}
    for dataset in REGISTRY.inputs:
        source = Path(getattr(inputs, INPUT_FILES[dataset.name]))
        key = dataset.landing_key_prefix + prefix + source.name
        lake.put_file(source, key)
        landed[dataset.output_table] = key
    return landed


def joined_on(
    current: Mapping[str, TableSnapshot | None], landed: Mapping[str, str], joined: str
) -> TableSnapshot | None:
    """The joined table's current snapshot if it was built on every processed table's current
    snapshot and those on the files just landed (``landed``: table -> key); else None.

    Not the joined table's first new build: in a cycle already under way (the warm one) the barrier
    may join the first reprocessed input with the other's earlier build, then again with both."""
    built = current.get(joined)
    if built is None:
        return None
    for table, key in landed.items():
        snapshot = current.get(table)
        if snapshot is None or snapshot.source is None or snapshot.source.key != key:
            return None
        if built.inputs.get(table) != snapshot.snapshot_id:
            return None
    return built


def current_snapshots(catalog: TableCatalog, tables: Iterable[str]) -> dict[str, TableSnapshot | None]:
    return {table: catalog.current(table) for table in tables}


def run_rows(runs: Iterable[Mapping[str, Any]], t0: float) -> list[dict]:
    """Each run (as the GraphQL API returns it) relative to ``t0``: when created, started and ended,
    its launch and run seconds, seconds per step; in creation order."""

    def since(moment: float | None) -> float | None:
        return round(moment - t0, 3) if moment is not None else None

    rows = []
    for run in sorted(runs, key=lambda r: r["creationTime"]):
        created, started, ended = run["creationTime"], run.get("startTime"), run.get("endTime")
        rows.append(
            {
                "run_id": run["runId"],
                "assets": sorted("/".join(key["path"]) for key in run.get("assetSelection") or []),
                "status": run.get("status"),
                "created": since(created),
                "started": since(started),
                "ended": since(ended),
                "launch_seconds": round(started - created, 3) if started is not None else None,
                "run_seconds": round(ended - started, 3) if started is not None and ended is not None else None,
                "steps": {
                    step["stepKey"]: round(step["endTime"] - step["startTime"], 3)
                    for step in run.get("stepStats") or []
                    if step.get("startTime") is not None and step.get("endTime") is not None
                },
            }
        )
    return rows


def phases(rows: list[dict], seconds: float, join_run_id: str, processed_tables: Iterable[str]) -> dict[str, float]:
    """Where a cycle's ``seconds`` went (they add up to it), from its runs (``run_rows``): until the
    last arrival run was created (each arrival sensor ticks on its own interval), until the arrival
    runs ended (the last one's launch and run), until the join run that published was created (the
    automation interval), its launch, and that run until the joined table was published. Empty
    when a run is missing."""
    tables = set(processed_tables)
    arrivals = [row for row in rows if tables & set(row["assets"]) and row["ended"] is not None]
    join = next((row for row in rows if row["run_id"] == join_run_id), None)
    if not arrivals or join is None or join["started"] is None:
        return {}
    last_created = max(row["created"] for row in arrivals)
    arrivals_ended = max(row["ended"] for row in arrivals)
    marks = [0.0, last_created, arrivals_ended, join["created"], join["started"], seconds]
    return {name: round(end - start, 3) for name, start, end in zip(PHASES, marks, marks[1:])}


def cycle_result(
    t0: float,
    landed_at: float,
    published_at: float,
    join_run_id: str,
    runs: Iterable[Mapping[str, Any]],
    processed_tables: Iterable[str],
) -> dict:
    """One cycle's figures from its moments (epoch seconds): landing started (``t0``), ended, the
    joined table published; and its runs."""
    seconds = published_at - t0
    rows = run_rows(runs, t0)
    joined = REGISTRY.joined.name
    return {
        "seconds": round(seconds, 3),
        "land_seconds": round(landed_at - t0, 3),
        "phases": phases(rows, seconds, join_run_id, processed_tables),
        "join_runs": sum(joined in row["assets"] for row in rows),
        "runs": rows,
    }


def runs_created_after(port: int, moment: float) -> list[dict]:
    data = graphql(port, RUNS_CREATED_AFTER % moment)["runsOrError"]
    if data["__typename"] != "Runs":
        raise RuntimeError(f"runs query failed: {data.get('message')}")
    return data["results"]


def runs_ended(daemon: Daemon) -> bool:
    return not graphql(daemon.port, RUNS_IN_PROGRESS)["runsOrError"]["results"]


def settle(daemon: Daemon, published_at: float) -> str | None:
    """Wait for the report the join starts (built after ``published_at``), then for every run to
    end. A report that does not come is a note, not a failure: the join's figure stands."""
    report = REGISTRY.report.table
    note = None
    try:
        wait_for(
            daemon,
            lambda: built_after(daemon.catalog, report, published_at),
            f"the report {report} after the join",
            deadline_seconds=120 + 2 * get_settings().automation_interval_seconds,
        )
    except TimeoutError as error:
        note = str(error)
    wait_for(daemon, lambda: runs_ended(daemon), "every run ended")
    return note


def built_after(catalog: TableCatalog, table: str, moment: float) -> bool:
    snapshot = catalog.current(table)
    return snapshot is not None and snapshot.committed_at > moment


def cycle(daemon: Daemon, inputs: Inputs, prefix: str = "") -> dict:
    """Land both files (named ``prefix`` + file name), wait for the joined table built on them,
    then for the runs after it to end: the cycle's figures."""
    joined = REGISTRY.joined.name
    t0 = time.time()
    landed = land_all(daemon.lake, inputs, prefix)
    landed_at = time.time()
    tables = [*landed, joined]
    try:
        built = wait_for(
            daemon,
            lambda: joined_on(current_snapshots(daemon.catalog, tables), landed, joined),
            f"{joined} built on the files landed as {prefix}*",
            poll=CATALOG_POLL_SECONDS,
        )
    except TimeoutError as error:
        runs = [
            f"{' '.join(row['assets'])} {row['status']}" for row in run_rows(runs_created_after(daemon.port, t0), t0)
        ]
        raise TimeoutError(f"{error}; runs since landing: {'; '.join(runs) or 'none'}") from None
    note = settle(daemon, built.committed_at)
    result = cycle_result(t0, landed_at, built.committed_at, built.run_id, runs_created_after(daemon.port, t0), landed)
    return {**result, "landed": landed, **({"note": note} if note else {})}


def published_tables(lake: Lake, catalog: TableCatalog) -> dict:
    """The registry's tables as the catalog has them (rows and files of their current builds)."""
    wanted = {*(d.output_table for d in REGISTRY.inputs), REGISTRY.joined.name}
    return {
        info.name: {
            **describe_table(lake.uri(info.build_key)),
            "catalog_rows": info.row_count,
            "built_at": info.built_at,
        }
        for info in catalog.infos()
        if info.name in wanted
    }


def measure(inputs: Inputs, work_dir: Path, log: Path) -> dict:
    """One measurement: ``dagster dev`` started, the cold cycle, the warm cycle, ``dagster dev`` stopped."""
    settings = get_settings()
    started = time.perf_counter()
    with running_daemon(work_dir, log) as daemon:
        up_seconds = time.perf_counter() - started
        cold = cycle(daemon, inputs, prefix="")
        warm = cycle(daemon, inputs, prefix="warm-")
        outputs = published_tables(daemon.lake, daemon.catalog)
    return daemon_result(
        cold,
        warm,
        up_seconds=round(up_seconds, 3),
        exit_status=daemon.wrapper.returncode,
        left_running=daemon.left_running,
        intervals={
            "sensor_interval_seconds": settings.sensor_interval_seconds,
            "automation_interval_seconds": settings.automation_interval_seconds,
        },
        peak_rss_bytes=daemon.peak.bytes if daemon.peak else None,
        peak_rss_by_process=daemon.peak.breakdown if daemon.peak else None,
        outputs=outputs,
    )


def daemon_result(cold: dict, warm: dict, **extra: Any) -> dict:
    """The contender's result: the warm cycle's seconds are its headline, each cycle's phases are
    kept flat (``"cold sensor wait"``...) for medians over repetitions, the cycles in full."""
    return {
        "seconds": warm["seconds"],
        "cold_seconds": cold["seconds"],
        "warm_seconds": warm["seconds"],
        "phases": {
            f"{name} {phase}": value
            for name, c in (("cold", cold), ("warm", warm))
            for phase, value in c["phases"].items()
        },
        "cycles": {"cold": cold, "warm": warm},
        **extra,
    }
