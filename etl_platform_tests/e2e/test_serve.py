"""`etl-platform serve` (`make serve`) for real: PostgreSQL, the code server, the webserver and the
daemon as separate processes turn landed files into the joined table, and faults mid-cycle (the
daemon or a run worker killed with SIGKILL, PostgreSQL restarted) lose nothing and do nothing twice.

The tests share one production mode, in order: each starts from the quiet state the last left.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dagster as dg
import psutil
import pytest

from benchmarks.daemon_runs import graphql
from etl_platform import cli
from etl_platform.assets._shared import table_pool
from etl_platform.datasets import REGISTRY
from etl_platform.instance import ensure_dotenv
from etl_platform.postgres_service import LocalPostgres
from etl_platform.spark_service import free_port
from etl_platform_tests.helpers import QUICKSIGHT_MARKETING, QUICKSIGHT_SALES, open_folder, still_running

pytestmark = pytest.mark.e2e
DEADLINE_SECONDS = 240
# A run is not over until it leaves these (a sensor's run is NOT_STARTED until the queue takes it).
IN_PROGRESS = [
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.CANCELING,
]


@dataclass
class Served:
    """The running `etl-platform serve`, its output so far, and the variables to reach what it runs."""

    process: subprocess.Popen
    environment: dict[str, str]
    home: Path
    output: list[str] = field(default_factory=list)

    def said(self, text: str) -> bool:
        return any(text in line for line in self.output)

    def wait_for(self, condition: Callable[[], Any], what: str) -> Any:
        deadline = time.monotonic() + DEADLINE_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"serve ended ({self.process.returncode}) while waiting: {what}\n{self.tail()}")
            value = condition()
            if value:
                return value
            time.sleep(0.5)
        pytest.fail(f"not within {DEADLINE_SECONDS} s: {what}\n{self.tail()}")

    def tail(self) -> str:
        logs = self.home / "process-logs"
        return "\n".join(
            ["".join(self.output[-20:]), self.runs_now()]
            + [f"--- {log.name}\n{log.read_text()[-2500:]}" for log in sorted(logs.glob("*.log"))]
        )

    def runs_now(self) -> str:
        """Each run's job, status and last event, for a failure's message."""
        try:
            with self.client() as instance:
                return "\n".join(
                    f"{run.job_name} {run.status.value} {run.tags.get('etl_platform/object_key', '')}: "
                    + (lambda logs: logs[-1].message[:300] if logs else "")(instance.all_logs(run.run_id))
                    for run in instance.get_runs()
                )
        except Exception as error:  # a diagnostic only: the failure it explains comes first
            return f"(runs not readable: {error})"

    def descendant(self, *needles: str) -> psutil.Process | None:
        for process in psutil.Process(self.process.pid).children(recursive=True):
            try:
                command = " ".join(process.cmdline())
            except psutil.Error:
                continue
            if all(needle in command for needle in needles):
                return process
        return None

    @contextmanager
    def client(self) -> Iterator[dg.DagsterInstance]:
        """The production instance (on the served PostgreSQL) and its lake, as this test process sees them."""
        with pytest.MonkeyPatch.context() as patch:
            for name, value in self.environment.items():
                patch.setenv(name, value)
            with dg.DagsterInstance.from_config(str(self.home)) as instance:
                yield instance


def _read_lines(served: Served) -> None:
    assert served.process.stdout is not None
    for line in served.process.stdout:
        served.output.append(line)


@pytest.fixture(scope="module")
def served() -> Iterator[Served]:
    # Not under pytest's temporary folder (only root may enter it): as root, PostgreSQL runs as etl_platform_pg.
    with open_folder() as root:
        ports = {name: free_port() for name in ("DAGSTER_WEBSERVER_PORT", "ETL_CODE_SERVER_PORT", "ETL_POSTGRES_PORT")}
        environment = {
            "ETL_SERVE_HOME": str(root / "home"),
            "ETL_LAKE_ROOT": str(root / "lake"),
            "ETL_ALERTS_FILE": str(root / "alerts.jsonl"),
            "ETL_SENSOR_INTERVAL_SECONDS": "1",
            "ETL_AUTOMATION_INTERVAL_SECONDS": "2",
            **{name: str(port) for name, port in ports.items()},
        }
        # As in a project folder after `make setup`: a .env naming the development instance.
        project = root / "project"
        project.mkdir()
        ensure_dotenv(root / "development", folder=project)
        # Steps use this test process's Spark Connect server (ETL_SPARK_REMOTE): serve starts none.
        process = subprocess.Popen(
            [str(Path(sys.executable).parent / "etl-platform"), "serve"],
            cwd=project,
            env={**os.environ, **environment},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        served = Served(process, environment, root / "home")
        threading.Thread(target=_read_lines, args=(served,), daemon=True).start()
        started: list[psutil.Process] = []
        try:
            served.wait_for(lambda: served.said("serve: ready"), "serve is ready")
            ui = f"http://127.0.0.1:{ports['DAGSTER_WEBSERVER_PORT']}"
            assert served.said(f"serve: ready: the UI at {ui}; Ctrl-C stops everything"), served.tail()
            postgres = LocalPostgres(served.home / "postgres", ports["ETL_POSTGRES_PORT"])  # its cluster, not started
            served.environment |= {"DAGSTER_HOME": str(served.home)} | postgres.connection.environment()
            started = psutil.Process(process.pid).children(recursive=True)
            yield served
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=120)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        assert process.returncode == 0, served.tail()
        assert served.said("serve: PostgreSQL stopped") and served.said("serve: stopped")
        assert not [process.pid for process in started if still_running(process)]  # nothing it started outlives it


def _land(served: Served, dataset: str, file: Path, name: str | None = None) -> None:
    with served.client():
        assert cli.main(["land", dataset, str(file), *(["--name", name] if name else [])]) == 0


def _query(served: Served, sql: str, capsys) -> list[str]:
    capsys.readouterr()
    with served.client():
        assert cli.main(["query", sql, "--format", "csv"]) == 0
    return capsys.readouterr().out.splitlines()[1:]


def _runs(served: Served, **tags: str) -> list[dg.DagsterRun]:
    with served.client() as instance:
        return list(instance.get_runs(filters=dg.RunsFilter(tags=tags)))


def _quiet(served: Served) -> bool:
    with served.client() as instance:
        return not instance.get_runs(filters=dg.RunsFilter(statuses=IN_PROGRESS))


def _materializations(served: Served, table: str) -> list[dg.EventLogRecord]:
    with served.client() as instance:
        return list(instance.fetch_materializations(dg.AssetKey(table), limit=100).records)


def test_landed_files_build_the_joined_table_once_though_the_daemon_is_killed_mid_run(
    served, quicksight_dir, capsys
) -> None:
    _land(served, "sales", quicksight_dir / QUICKSIGHT_SALES)
    _land(served, "marketing", quicksight_dir / QUICKSIGHT_MARKETING)
    served.wait_for(
        lambda: [run for run in _runs(served) if run.status == dg.DagsterRunStatus.STARTED], "a sensor's run started"
    )
    daemon = served.wait_for(lambda: served.descendant("dagster-daemon", "run"), "the daemon process")
    daemon.kill()
    killed = time.monotonic()
    served.wait_for(lambda: served.said("serve: daemon is back"), "the daemon restarted")
    back = time.monotonic()

    served.wait_for(lambda: _materializations(served, REGISTRY.report.table), "the report after the join")
    served.wait_for(lambda: _quiet(served), "every run ended")
    _report(
        capsys,
        f"daemon killed: restarted after {back - killed:.1f} s, cycle done after {time.monotonic() - killed:.1f} s",
    )
    assert served.said("serve: daemon exited with status -9; starting it again")
    for dataset, key in (("sales", QUICKSIGHT_SALES), ("marketing", QUICKSIGHT_MARKETING)):
        runs = _runs(served, **{"etl_platform/object_key": f"landing/{dataset}/{key}"})
        assert [run.status for run in runs] == [dg.DagsterRunStatus.SUCCESS], dataset  # once, not missed
    assert len(_materializations(served, "sales_marketing_daily")) == 1
    assert _query(served, "select count(*) from sales_marketing_daily", capsys) == ["1458"]

    with served.client() as instance:  # the runs are rows in PostgreSQL, as the UI's instance page says
        info = graphql(int(served.environment["DAGSTER_WEBSERVER_PORT"]), "{ instance { info } }")["instance"]["info"]
        assert "run_storage: PostgresRunStorage" in info and "event_log_storage: PostgresEventLogStorage" in info
        with instance.run_storage.connect() as connection:  # type: ignore[attr-defined]
            rows = connection.exec_driver_sql("select count(*) from runs").scalar()
        assert rows == len(instance.get_runs()) >= 3  # each input, then the join with the report


def _started_run(served: Served, key: str) -> dg.DagsterRun:
    def started() -> dg.DagsterRun | None:
        runs = _runs(served, **{"etl_platform/object_key": key})
        return next((run for run in runs if run.status == dg.DagsterRunStatus.STARTED), None)

    return served.wait_for(started, f"the run for {key} started")


def test_a_run_worker_killed_mid_step_is_failed_and_retried_and_the_table_stays_whole(
    served, quicksight_dir, capsys
) -> None:
    before = _query(served, "select count(*), sum(opportunities) from sales_daily", capsys)
    key = "landing/sales/again.csv"
    _land(served, "sales", quicksight_dir / QUICKSIGHT_SALES, name="again.csv")
    run = _started_run(served, key)
    script = served.wait_for(lambda: served.descendant("glue-scripts", "again.csv"), "the step's script")
    worker = script.parent()
    worker.kill()
    killed = time.monotonic()
    _, alive = psutil.wait_procs([script], timeout=60)
    assert not alive, "the script outlived its run worker"

    def failed() -> bool:
        with served.client() as instance:
            return instance.get_run_by_id(run.run_id).status == dg.DagsterRunStatus.FAILURE

    served.wait_for(failed, "the dead worker's run marked failed")
    detected = time.monotonic()
    assert _query(served, "select count(*), sum(opportunities) from sales_daily", capsys) == before  # intact

    def retried() -> dg.DagsterRun | None:
        retries = _runs(served, **{"dagster/parent_run_id": run.run_id})
        return next((r for r in retries if r.status == dg.DagsterRunStatus.SUCCESS), None)

    retry = served.wait_for(retried, "the retry built the table")
    _report(
        capsys,
        f"run worker killed: failed after {detected - killed:.1f} s, rebuilt after {time.monotonic() - killed:.1f} s",
    )
    assert retry.tags["etl_platform/object_key"] == key
    with served.client() as instance:  # the dead run's slot in the table's pool was given back
        pool = instance.event_log_storage.get_concurrency_info(table_pool("sales_daily"))
        assert run.run_id not in {slot.run_id for slot in pool.claimed_slots} and pool.slot_count == 1
    assert _materializations(served, "sales_daily")[0].run_id == retry.run_id
    assert _query(served, "select count(*), sum(opportunities) from sales_daily", capsys) == before  # same file
    served.wait_for(lambda: _quiet(served), "every run ended")


def test_postgresql_restarted_mid_cycle_is_recovered_from_without_help(served, quicksight_dir, capsys) -> None:
    """The daemon and the webserver carry on by themselves. The run in flight ends either way: done,
    or failed (and alerted) if its event writes outlasted dagster-postgres's retries (a few seconds)."""
    in_flight = "landing/marketing/during.csv"
    _land(served, "marketing", quicksight_dir / QUICKSIGHT_MARKETING, name="during.csv")
    _started_run(served, in_flight)
    joins = len(_materializations(served, "sales_marketing_daily"))
    postmaster = served.descendant("postgres", "-D")
    postmaster.send_signal(signal.SIGQUIT)  # an immediate shutdown: a crash, recovered on the next start
    stopped = time.monotonic()
    served.wait_for(lambda: served.said("serve: PostgreSQL is back"), "PostgreSQL restarted")
    port = int(served.environment["DAGSTER_WEBSERVER_PORT"])
    served.wait_for(lambda: _answers(port), "the webserver answers again")
    answered = time.monotonic()

    after = "landing/marketing/after.csv"  # the sensors and the barrier run again: a new file goes through
    _land(served, "marketing", quicksight_dir / QUICKSIGHT_MARKETING, name="after.csv")

    def done(key: str) -> list[dg.DagsterRunStatus]:
        statuses = [run.status for run in _runs(served, **{"etl_platform/object_key": key})]
        return statuses if statuses and not set(statuses) & set(IN_PROGRESS) else []

    assert set(served.wait_for(lambda: done(in_flight), "the run in flight ended")) <= {
        dg.DagsterRunStatus.SUCCESS,
        dg.DagsterRunStatus.FAILURE,
    }
    assert served.wait_for(lambda: done(after), "the file landed after the restart processed") == [
        dg.DagsterRunStatus.SUCCESS
    ]
    served.wait_for(lambda: len(_materializations(served, "sales_marketing_daily")) > joins, "the join rebuilt")
    recovered = time.monotonic() - stopped
    _report(
        capsys,
        f"PostgreSQL restarted: webserver answering after {answered - stopped:.1f} s, "
        f"a new file processed and joined {recovered:.1f} s after",
    )
    assert _query(served, "select count(*) from sales_marketing_daily", capsys) == ["1458"]
    served.wait_for(lambda: _quiet(served), "every run ended")


def _answers(port: int) -> bool:
    try:
        return bool(graphql(port, "{ version }"))
    except OSError:
        return False


def _report(capsys, line: str) -> None:
    """A measured recovery time, shown with `pytest -s` (docs/production.md quotes them)."""
    with capsys.disabled():
        print(line)


def test_a_port_in_use_stops_serve_in_one_line_before_it_starts_anything(tmp_path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        environment = {**os.environ, "ETL_SERVE_HOME": str(tmp_path / "home"), "DAGSTER_WEBSERVER_PORT": str(port)}
        done = subprocess.run(
            [str(Path(sys.executable).parent / "etl-platform"), "serve"],
            env=environment,
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert (done.returncode, done.stderr) == (
        1,
        f"serve: error: port {port} is in use on 127.0.0.1: stop what listens there or set DAGSTER_WEBSERVER_PORT\n",
    )
    assert not (tmp_path / "home" / "postgres").exists()
