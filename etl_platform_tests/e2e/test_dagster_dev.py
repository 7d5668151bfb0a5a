"""A running `dagster dev` (webserver + daemon), started as `make dev` starts it, turns two landed
files into the joined table, and leaves no process behind when stopped."""

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from benchmarks.daemon_runs import graphql
from etl_platform import cli
from etl_platform.datasets import REGISTRY
from etl_platform.instance import ensure_dagster_home
from etl_platform.project import PROJECT_ROOT, SAMPLES_DIR
from etl_platform.samples import MARKETING_SAMPLE, SALES_SAMPLE
from etl_platform.spark_service import free_port
from etl_platform_tests.helpers import lake_catalog, still_running

pytestmark = pytest.mark.e2e
DEADLINE_SECONDS = 300
RUNS_IN_PROGRESS = "{ runsOrError(filter: {statuses: [QUEUED, NOT_STARTED, STARTING, STARTED]}) { ... on Runs { results { runId } } } }"


def _wait_for(condition, what: str, log: Path):
    deadline = time.monotonic() + DEADLINE_SECONDS
    while time.monotonic() < deadline:
        try:
            value = condition()
        except OSError:
            value = None
        if value:
            return value
        time.sleep(0.5)  # a log read or a small query: cheap, and each wait ends soon after its condition
    pytest.fail(f"{what} within {DEADLINE_SECONDS}s; dagster dev log tail:\n{log.read_text()[-4000:]}")


def _stop(wrapper: subprocess.Popen) -> None:
    """SIGTERM to the wrapper alone, as `make` sends it; if it does not end in time, its process group
    (it and the server) and that of `dagster dev` are killed."""
    command_groups = [child.pid for child in psutil.Process(wrapper.pid).children() if child.name() != "java"]
    wrapper.terminate()
    try:
        wrapper.wait(timeout=60)
    except subprocess.TimeoutExpired:
        for group in [wrapper.pid, *command_groups]:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(group, signal.SIGKILL)
        wrapper.wait()


def test_landing_two_files_into_a_running_dagster_dev(tmp_path, lake_root, monkeypatch, capsys) -> None:
    port = free_port()
    log = tmp_path / "dagster_dev.log"
    env = {
        **os.environ,
        "DAGSTER_HOME": str(tmp_path / "home"),
        # The arrival sensors and the join barrier's automation (30 s each by default) tick often here.
        "ETL_SENSOR_INTERVAL_SECONDS": "2",
        "ETL_AUTOMATION_INTERVAL_SECONDS": "2",
        "ETL_ALERTS_FILE": str(tmp_path / "alerts.jsonl"),
    }
    env.pop("ETL_SPARK_REMOTE")  # the wrapper starts a server of its own, as under `make dev`
    monkeypatch.setenv("DAGSTER_HOME", env["DAGSTER_HOME"])
    ensure_dagster_home()  # the project's instance settings, pool limits included, as `make dev` has
    dagster = str(Path(sys.executable).parent / "dagster")
    with open(log, "w") as out:
        wrapper = subprocess.Popen(
            [sys.executable, "-m", "etl_platform.spark_service", "--", dagster, "dev", "-p", str(port)],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    started: list[psutil.Process] = []  # by the wrapper: `dagster dev` and the Spark Connect server
    try:
        _wait_for(
            lambda: "sales_arrival_sensor" in log.read_text() and graphql(port, "{ version }"),
            "UI and sensors up",
            log,
        )
        started = psutil.Process(wrapper.pid).children()
        (jvm,) = [p for p in started if p.name() == "java"]
        assert "SparkConnectServer" in " ".join(jvm.cmdline())

        assert cli.main(["land", "sales", str(SAMPLES_DIR / SALES_SAMPLE)]) == 0
        assert cli.main(["land", "marketing", str(SAMPLES_DIR / MARKETING_SAMPLE)]) == 0

        catalog = lake_catalog(lake_root)
        _wait_for(lambda: "sales_marketing_daily" in catalog.names(), "the joined table was not published", log)
        query = '{ assetOrError(assetKey: {path: ["sales_marketing_daily"]}) { ... on Asset { assetMaterializations(limit: 1) { runId metadataEntries { label ... on IntMetadataEntry { intValue } } } } } }'
        (materialization,) = _wait_for(
            lambda: graphql(port, query)["assetOrError"]["assetMaterializations"], "UI shows it", log
        )
        row_count = {e["label"]: e.get("intValue") for e in materialization["metadataEntries"]}["dagster/row_count"]
        # The join's good build starts the report; stopping dagster dev under it would fail that run.
        report = REGISTRY.report.table
        _wait_for(lambda: report in catalog.names(), "the report after the join was not published", log)
        _wait_for(lambda: not graphql(port, RUNS_IN_PROGRESS)["runsOrError"]["results"], "runs ended", log)
    finally:
        _stop(wrapper)

    assert wrapper.returncode == 0, log.read_text()[-4000:]
    # Neither outlives it (Dagster's code servers follow within their heartbeat timeout).
    assert len(started) == 2 and not any(still_running(p) for p in started)
    capsys.readouterr()
    assert cli.main(["query", "select count(*) from sales_marketing_daily", "--format", "csv"]) == 0
    assert capsys.readouterr().out.splitlines()[1:] == [str(row_count)]
    assert row_count == 731
    assert not (tmp_path / "alerts.jsonl").exists()
