"""A build killed with SIGKILL mid-step holds its table's pool slot; the next build goes ahead
without help, and the killed run is failed with the reason. A build waiting for a live one says
which run it waits for, and stops on SIGTERM."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import pytest

from etl_platform.instance import ensure_instance
from etl_platform.project import SAMPLES_DIR
from etl_platform_tests.helpers import created_instance_home, holding_pool

pytestmark = pytest.mark.e2e
BIN = Path(sys.executable).parent
POOL = "table_sales_daily"


def _environment(tmp_path: Path) -> dict[str, str]:
    """Its own lake and instance; Spark steps on the test process's Spark Connect server."""
    home = created_instance_home(ensure_instance(tmp_path / "home"))
    env = {**os.environ, "ETL_LAKE_ROOT": str(tmp_path / "lake"), "DAGSTER_HOME": str(home)}
    env.pop("ETL_PLATFORM_ENV", None)
    return env


def _workdir(env: dict[str, str]) -> Path:
    """The test's own folder: Dagster's commands read a `.env` in their working folder, and the
    project's would name the project's instance instead of the test's."""
    return Path(env["ETL_LAKE_ROOT"]).parent


def _killed_mid_step(env: dict[str, str]) -> str:
    """`dagster asset materialize` of sales_daily, killed with its whole process group (its script
    too) by SIGKILL once its step has started and holds the table's pool slot; the run's id."""
    land = [str(BIN / "etl-platform"), "land", "sales", str(next((SAMPLES_DIR / "sales").glob("*.csv")))]
    subprocess.run(land, env=env, cwd=_workdir(env), check=True, capture_output=True)
    build = subprocess.Popen(
        [str(BIN / "dagster"), "asset", "materialize", "-m", "etl_platform.definitions", "--select", "sales_daily"],
        env=env,
        cwd=_workdir(env),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    with dg.DagsterInstance.from_config(env["DAGSTER_HOME"]) as instance:
        deadline, started = time.monotonic() + 300, []
        while not started:
            assert build.poll() is None and time.monotonic() < deadline, "the build never started its step"
            time.sleep(0.5)
            runs = instance.get_runs()
            started = [
                run.run_id
                for run in runs
                if instance.get_records_for_run(run.run_id, of_type=dg.DagsterEventType.STEP_START).records
            ]
        assert {slot.run_id for slot in instance.event_log_storage.get_concurrency_info(POOL).claimed_slots} == set(
            started
        )
    os.killpg(build.pid, signal.SIGKILL)
    build.wait()
    return started[0]


def test_after_a_build_killed_mid_step_the_next_one_succeeds_without_help(tmp_path) -> None:
    env = _environment(tmp_path)
    killed = _killed_mid_step(env)

    demo = subprocess.run(
        [str(BIN / "etl-platform"), "demo"], env=env, cwd=_workdir(env), capture_output=True, text=True, timeout=900
    )
    assert demo.returncode == 0, demo.stderr[-3000:]
    assert f"run {killed} (__ASSET_JOB) failed: the process" in demo.stdout
    with dg.DagsterInstance.from_config(env["DAGSTER_HOME"]) as instance:
        run = instance.get_run_by_id(killed)
        assert run.status == dg.DagsterRunStatus.FAILURE
        (failure,) = instance.get_records_for_run(killed, of_type=dg.DagsterEventType.RUN_FAILURE).records
        assert "is gone (killed?)" in failure.event_log_entry.message
        assert instance.event_log_storage.get_concurrency_info(POOL).claimed_slots == []


def test_a_demo_waiting_for_a_live_runs_table_says_which_run_and_stops_on_sigterm(tmp_path) -> None:
    """A build of the table runs in another process: the demo's step says it waits for that run,
    and SIGTERM ends the demo, its run canceled and out of the pool's line."""
    env = _environment(tmp_path)
    holder, held = holding_pool(Path(env["DAGSTER_HOME"]), POOL)
    try:
        demo = subprocess.Popen(
            [str(BIN / "etl-platform"), "demo"],
            env=env,
            cwd=_workdir(env),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert demo.stdout is not None
        waiting = f"waiting for pool {POOL}, held by run {held.run_id}"
        # Once the one step it can run is done and it says what it waits for, it only waits.
        expected, lines = [["marketing_daily", "ok"], ["sales_daily", *waiting.split()]], []
        for line in demo.stdout:  # ends if the demo does
            lines.append(line.split()[:2] if line.startswith("  marketing_daily ") else line.split())
            if all(item in lines for item in expected):
                break
        assert all(item in lines for item in expected), lines
        demo.send_signal(signal.SIGTERM)
        _, err = demo.communicate(timeout=120)
        assert demo.returncode == 130 and err.strip().splitlines()[-1] == "etl-platform: interrupted", err[-2000:]
        with dg.DagsterInstance.from_config(env["DAGSTER_HOME"]) as instance:
            (run,) = [run for run in instance.get_runs() if run.run_id != held.run_id]
            assert run.status == dg.DagsterRunStatus.CANCELED
            assert instance.event_log_storage.get_concurrency_run_ids() == {held.run_id}
    finally:
        os.killpg(holder.pid, signal.SIGKILL)
        holder.wait()


def test_a_plain_materialize_waiting_for_a_killed_builds_slot_goes_ahead(tmp_path) -> None:
    """Without `make` or a daemon: the waiting build itself finds that the slot's holder is gone."""
    env = _environment(tmp_path)
    killed = _killed_mid_step(env)
    build = subprocess.run(
        [str(BIN / "dagster"), "asset", "materialize", "-m", "etl_platform.definitions", "--select", "sales_daily"],
        env=env,
        cwd=_workdir(env),
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert build.returncode == 0, build.stderr[-3000:]
    with dg.DagsterInstance.from_config(env["DAGSTER_HOME"]) as instance:
        assert instance.get_run_by_id(killed).status == dg.DagsterRunStatus.FAILURE
        assert instance.get_latest_materialization_event(dg.AssetKey("sales_daily")) is not None
