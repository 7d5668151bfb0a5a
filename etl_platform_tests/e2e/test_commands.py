"""The commands a newcomer types: `etl-platform demo`, then `make materialize` from the root."""

import os
import re
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import psutil
import pytest

from etl_platform.definitions import defs
from etl_platform.instance import ensure_dotenv
from etl_platform.project import PROJECT_ROOT
from etl_platform.spark_service import server_name
from etl_platform_tests.helpers import still_running

pytestmark = pytest.mark.e2e
BIN = Path(sys.executable).parent


def _run(argv: list[str], env: dict[str, str], cwd: Path = PROJECT_ROOT) -> subprocess.CompletedProcess:
    return subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


def _run_with_own_server(argv: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    """A command that starts a Spark Connect server of its own; none is left running when it ends."""
    process = subprocess.Popen(argv, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out, err = process.communicate(timeout=600)
    name = server_name(process.pid)
    left = [p for p in psutil.process_iter(["cmdline"]) if name in " ".join(p.info["cmdline"] or [])]
    assert left == [], f"{argv[0]} left its Spark Connect server running"
    return subprocess.CompletedProcess(argv, process.returncode, out, err)


def test_demo_then_materialize_from_the_project_root(tmp_path) -> None:
    """As a newcomer types them, with no DAGSTER_HOME set: the project's ``.env`` (written by
    ``make setup``) names the one instance, so the UI shows every run."""
    home = tmp_path / "dagster_home"
    root = tmp_path / "project"  # stands in for the project root and its .env
    root.mkdir()
    ensure_dotenv(home, folder=root)
    env = {**os.environ, "ETL_LAKE_ROOT": str(tmp_path / "lake")}
    for name in ("ETL_PLATFORM_ENV", "DAGSTER_HOME", "ETL_SPARK_REMOTE"):  # each command starts its own Spark
        env.pop(name, None)

    demo = _run_with_own_server([str(BIN / "etl-platform"), "demo"], env, root)
    assert demo.returncode == 0, demo.stderr[-3000:]
    assert re.search(
        r"^running etl_pipeline_job \(run [\w-]+, Spark Connect at sc://localhost:\d+\):$", demo.stdout, re.M
    )
    lines = {line.split()[0]: line for line in demo.stdout.splitlines() if " rows " in line}
    assert set(lines) == {"sales_daily", "marketing_daily", "sales_marketing_daily", "engagement_revenue_correlation"}
    assert "731 rows" in lines["sales_marketing_daily"] and "make dev" in demo.stdout
    assert "68 rows" in lines["engagement_revenue_correlation"]
    # On the terminal: a line per step of the job with its time, then the summary. Dagster's
    # events, the scripts' own output and Spark's warnings stay in the run's log (checked below).
    progress = re.findall(r"^  (\w+) +ok +\d+\.\d s$", demo.stdout, re.MULTILINE)
    assert sorted(progress) == sorted(
        node.name for node in defs.resolve_job_def("etl_pipeline_job").nodes_in_topological_order
    )
    assert demo.stdout.index(f"  {progress[-1]} ") < demo.stdout.index("succeeded")
    assert not re.search(r" - (DEBUG|INFO) - | INFO lake_job: |No Partition Defined for Window", demo.stderr), (
        demo.stderr[-3000:]
    )

    report = _run([str(BIN / "etl-platform"), "report", "--top", "3"], env)
    assert report.returncode == 0, report.stderr[-3000:]
    strongest = [cell.strip() for cell in report.stdout.splitlines()[2].split("|")]
    assert strongest[:2] == ["website_pageviews", "opportunities"] and "(3 rows)" in report.stdout
    assert report.stdout.count("/_charts/") == 2 and ".png" in report.stdout

    dagster = [str(BIN / "dagster"), "asset", "materialize", "-m", "etl_platform.definitions", "--select", "*"]
    materialize = _run_with_own_server([sys.executable, "-m", "etl_platform.spark_service", "--", *dagster], env, root)
    assert materialize.returncode == 0, materialize.stderr[-3000:]
    assert "Spark Connect server for " in materialize.stderr
    assert "temporary directory" not in materialize.stderr and "usage statistics" not in materialize.stderr

    with dg.DagsterInstance.from_config(str(home)) as instance:
        runs = instance.get_runs()
        assert len(runs) == 2 and all(run.is_success for run in runs)
        event = instance.get_latest_materialization_event(dg.AssetKey("sales_marketing_daily"))
        assert event.run_id == runs[0].run_id
        demo_run = runs[1]
        assert f"(run {demo_run.run_id}, " in demo.stdout
        messages = [entry.user_message for entry in instance.all_logs(demo_run.run_id)]
        # The scripts' log reaches the run once (through Pipes, not echoed again from their stderr) ...
        assert len([m for m in messages if "wrote 731 rows to" in m and "/sales_marketing_daily/" in m]) == 1
        assert not any(" INFO lake_job: " in message for message in messages)
        assert not any("No Partition Defined for Window" in message for message in messages)  # ... with no such warning


def _demo_until_its_run_starts(tmp_path) -> tuple[subprocess.Popen, psutil.Process]:
    """A demo with its own lake and instance, once its Spark server is up; and that server."""
    env = {**os.environ, "ETL_LAKE_ROOT": str(tmp_path / "lake"), "DAGSTER_HOME": str(tmp_path / "home")}
    for name in ("ETL_PLATFORM_ENV", "ETL_SPARK_REMOTE"):
        env.pop(name, None)
    demo = subprocess.Popen(  # a process group of its own, as a terminal's foreground job
        [str(BIN / "etl-platform"), "demo"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        process_group=0,
    )
    deadline, line = time.monotonic() + 300, ""
    while "Spark Connect at" not in line:  # the server is up and the run starts
        ready, _, _ = select.select([demo.stdout], [], [], max(0.0, deadline - time.monotonic()))
        line = demo.stdout.readline() if ready else ""
        assert ready and line, f"the demo did not start its run: {demo.stderr.read()[-3000:] if not ready else ''}"
    (jvm,) = [child for child in psutil.Process(demo.pid).children() if child.name() == "java"]
    return demo, jvm


def _scripts_once_started(demo: subprocess.Popen) -> list[psutil.Process]:
    """The Spark scripts the demo's step runs, once there is one."""
    deadline, scripts = time.monotonic() + 120, []
    while not scripts and time.monotonic() < deadline:
        children = psutil.Process(demo.pid).children()
        scripts = [p for p in children if any("glue-scripts" in part for part in p.cmdline())]
        psutil.wait_procs(children, timeout=0.2)  # a short wait on the children, not a sleep
    assert scripts, "no step started a script"
    return scripts


def test_ctrl_c_during_a_step_stops_the_demo_its_server_and_script_with_one_line_and_cancels_its_run(
    tmp_path,
) -> None:
    """One demo serves every check (a demo start is a Python start and a Spark server start). Ctrl-C
    reaches the terminal's whole foreground process group, the demo and every process it started:
    it exits 130 with its one line and none of Dagster's helper processes' tracebacks, stops its
    Spark server, and the step it was running stops its script and leaves the run canceled.
    (SIGTERM to the demo alone: ``e2e/test_killed_run.py``.)"""
    demo, jvm = _demo_until_its_run_starts(tmp_path)
    scripts = _scripts_once_started(demo)
    os.killpg(demo.pid, signal.SIGINT)
    _, err = demo.communicate(timeout=120)
    assert demo.returncode == 130 and err.strip().splitlines()[-1] == "etl-platform: interrupted", err[-2000:]
    assert "Traceback" not in err, err[-3000:]
    assert not still_running(jvm), "the demo left its Spark server running"
    assert not any(still_running(p) for p in scripts)
    with dg.instance_for_test(temp_dir=str(tmp_path / "home")) as instance:
        (run,) = instance.get_runs()
    assert run.status == dg.DagsterRunStatus.CANCELED
