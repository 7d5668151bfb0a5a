"""The warm Spark Connect server with real Spark: shared by steps and processes, replaced when dead,
stopped when idle, and scripts on it fail and run side by side as they do with a JVM of their own."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import dagster as dg
import pytest

from etl_platform.environment import local_resources
from etl_platform.project import GLUE_SCRIPTS_DIR, PROJECT_ROOT, SHARED_SCRIPTS
from etl_platform.resources import LocalSparkRunner
from etl_platform.warm_spark import ServerSettings, leased_server, server_status, stop_server

SPARK_SCRIPT = """
import os, pathlib, time
import lake_job

def main(reporter, argv):
    args = lake_job.parse_job_args(argv, required=["tag"], optional={"wait_for": ""})
    spark = lake_job.spark_session("t")
    spark.conf.set("etl.test.tag", args["tag"])
    here = pathlib.Path(__file__).parent
    (here / (args["tag"] + ".ready")).touch()
    deadline = time.time() + 120
    while args["wait_for"] and not (here / (args["wait_for"] + ".ready")).exists():
        assert time.time() < deadline, "the other step never started"
        time.sleep(0.1)
    groups = spark.range(1000).selectExpr("id % 7 AS k").groupBy("k").count().count()
    reporter._pipes.report_asset_materialization(metadata={
        "groups": {"raw_value": groups, "type": "int"},
        "session": {"raw_value": spark.session_id, "type": "text"},
        "tag": {"raw_value": spark.conf.get("etl.test.tag"), "type": "text"},
        "remote": {"raw_value": os.environ["SPARK_REMOTE"], "type": "text"},
    })

lake_job.run_job(main)
"""
BAD_COLUMN_SCRIPT = """
import lake_job

def main(reporter, argv):
    lake_job.spark_session("t").range(1).select("no_such_column").count()

lake_job.run_job(main)
"""


@pytest.fixture
def scripts_dir(tmp_path):
    (tmp_path / "spark.py").write_text(textwrap.dedent(SPARK_SCRIPT))
    (tmp_path / "bad_column.py").write_text(textwrap.dedent(BAD_COLUMN_SCRIPT))
    for shared in SHARED_SCRIPTS:
        (tmp_path / shared).write_bytes((GLUE_SCRIPTS_DIR / shared).read_bytes())
    return tmp_path


def _runner(scripts_dir, **overrides) -> LocalSparkRunner:
    """The local environment's runner (the test session's server), in connect mode, on stand-in scripts."""
    base = local_resources()["spark"]
    settings = {"master": base.master, "driver_memory": base.driver_memory, "server_dir": base.server_dir}
    return LocalSparkRunner(mode="connect", scripts_dir=str(scripts_dir), **{**settings, **overrides})


def _asset(script: str, name: str = "t", **arguments: str) -> dg.AssetsDefinition:
    @dg.asset(name=name, retry_policy=dg.RetryPolicy(max_retries=2, delay=0))
    def _t(context: dg.AssetExecutionContext, spark: LocalSparkRunner) -> dg.MaterializeResult:
        return spark.run_script(context, script, arguments).get_materialize_result()

    return _t


def _run(runner: LocalSparkRunner, asset: dg.AssetsDefinition) -> tuple[dg.ExecuteInProcessResult, list[str]]:
    with dg.instance_for_test() as instance:
        result = dg.materialize([asset], resources={"spark": runner}, instance=instance, raise_on_error=False)
        return result, [entry.user_message for entry in instance.all_logs(result.run_id)]


def _metadata(result: dg.ExecuteInProcessResult, name: str = "t") -> dict:
    return {key: value.value for key, value in result.asset_materializations_for_node(name)[0].metadata.items()}


def _alive(pid: int) -> bool:
    """Running: a zombie (exited, not yet reaped by its parent, this process for a keeper) is not."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def _lease_from_another_process(settings: ServerSettings) -> dict:
    code = (
        "import json, sys\n"
        "from etl_platform.warm_spark import ServerSettings, leased_server\n"
        "with leased_server(ServerSettings(**json.loads(sys.argv[1]))) as s:\n"
        "    print(json.dumps({'jvm_pid': s.jvm_pid, 'port': s.port}))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, settings.to_json()], capture_output=True, text=True, cwd=PROJECT_ROOT, timeout=300
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_steps_and_processes_share_one_server_and_a_dead_one_is_replaced(scripts_dir, tmp_path) -> None:
    runner = _runner(
        scripts_dir, server_dir=str(tmp_path / "own"), master="local[1]", driver_memory="512m", idle_seconds=60
    )
    first, _ = _run(runner, _asset("spark.py", tag="a"))
    assert first.success
    server = server_status(runner.server_dir)
    assert server is not None and _metadata(first)["remote"] == f"sc://localhost:{server.port}"
    assert _metadata(first)["groups"] == 7

    second, logs = _run(runner, _asset("spark.py", tag="b"))
    assert second.success
    assert f"using the warm Spark Connect server (pid {server.jvm_pid}, port {server.port})" in logs
    assert not any(message.startswith("starting a Spark Connect server") for message in logs)
    assert _metadata(second)["session"] != _metadata(first)["session"]
    # A process that is not a Dagster step finds the very same server through the folder.
    assert _lease_from_another_process(runner.server_settings()) == {"jvm_pid": server.jvm_pid, "port": server.port}

    os.kill(server.jvm_pid, signal.SIGKILL)
    third, logs = _run(runner, _asset("spark.py", tag="c"))
    assert third.success
    replacement = server_status(runner.server_dir)
    assert replacement is not None and replacement.jvm_pid != server.jvm_pid
    assert any(message.startswith("starting a Spark Connect server") for message in logs)
    assert not _alive(server.jvm_pid)
    stop_server(runner.server_dir)


def test_a_failing_script_fails_the_step_with_its_own_message_and_is_not_retried(scripts_dir) -> None:
    result, _ = _run(_runner(scripts_dir), _asset("bad_column.py"))
    assert not result.success
    (failure,) = result.get_step_failure_events()
    message = failure.event_specific_data.error.message
    assert "bad_column.py failed: AnalysisException: [UNRESOLVED_COLUMN" in message
    assert "no_such_column" in message
    assert not any(e.event_type == dg.DagsterEventType.STEP_UP_FOR_RETRY for e in result.all_events)


STEP = """
import json, sys
import dagster as dg
from etl_platform.resources import LocalSparkRunner
from etl_platform_tests.resources.test_warm_spark import _asset, _metadata

runner, tag, other = LocalSparkRunner(**json.loads(sys.argv[1])), sys.argv[2], sys.argv[3]
result = dg.materialize([_asset("spark.py", tag=tag, wait_for=other)], resources={"spark": runner})
print(json.dumps(_metadata(result)))
"""


def test_two_steps_at_once_run_in_sessions_of_their_own(scripts_dir) -> None:
    """Each step in its own process, as Dagster runs them; each waits until the other has started."""
    runner = _runner(scripts_dir).model_dump_json()
    steps = [
        subprocess.Popen(
            [sys.executable, "-c", STEP, runner, tag, other],
            cwd=PROJECT_ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for tag, other in (("x", "y"), ("y", "x"))
    ]
    outputs = [step.communicate(timeout=300) for step in steps]
    assert [step.returncode for step in steps] == [0, 0], [err[-3000:] for _, err in outputs]
    x, y = (json.loads(out.strip().splitlines()[-1]) for out, _ in outputs)
    assert (x["tag"], y["tag"]) == ("x", "y")  # each set its own conf while the other was running
    assert x["session"] != y["session"] and x["remote"] == y["remote"]
    assert x["groups"] == y["groups"] == 7


def test_an_idle_server_stops_unless_leased(scripts_dir, tmp_path) -> None:
    runner = _runner(
        scripts_dir, server_dir=str(tmp_path / "idle"), master="local[1]", driver_memory="512m", idle_seconds=1
    )
    assert _run(runner, _asset("spark.py", tag="a"))[0].success
    with leased_server(runner.server_settings()) as server:
        time.sleep(3)  # leased: kept running past its idle timeout
        assert server_status(runner.server_dir) == server
    deadline = time.monotonic() + 60
    # The keeper removes the state, stops the JVM, then exits: wait for all three.
    while (
        server_status(runner.server_dir) or _alive(server.jvm_pid) or _alive(server.keeper_pid)
    ) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert server_status(runner.server_dir) is None and not _alive(server.jvm_pid) and not _alive(server.keeper_pid)
    assert "idle for 1 s: stopping" in (tmp_path / "idle" / "server.log").read_text()


def test_stop_command_stops_the_server(tmp_path) -> None:
    settings = ServerSettings(folder=str(tmp_path / "srv"), master="local[1]", driver_memory="512m")
    with leased_server(settings) as server:
        pass
    environment = {**os.environ, "ETL_SPARK_SERVER_DIR": settings.folder}
    stop = [sys.executable, "-m", "etl_platform.warm_spark", "stop"]
    done = subprocess.run(stop, env=environment, capture_output=True, text=True, cwd=PROJECT_ROOT, timeout=120)
    assert done.returncode == 0, done.stderr
    assert f"stopped: Spark Connect server pid {server.jvm_pid} on 127.0.0.1:{server.port}" in done.stdout
    assert not _alive(server.jvm_pid) and server_status(settings.folder) is None


def test_local_environment_runs_scripts_on_the_warm_server_unless_told_otherwise(monkeypatch, tmp_path) -> None:
    monkeypatch.delenv("ETL_SPARK_MODE", raising=False)
    monkeypatch.setenv("ETL_SPARK_IDLE_SECONDS", "42")
    runner = local_resources()["spark"]
    assert (runner.mode, runner.idle_seconds, runner.server_dir) == ("connect", 42, os.environ["ETL_SPARK_SERVER_DIR"])
    monkeypatch.delenv("ETL_SPARK_SERVER_DIR")
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    monkeypatch.setenv("ETL_SPARK_MODE", "process")
    runner = local_resources()["spark"]
    assert (runner.mode, runner.server_dir) == ("process", str(tmp_path / "spark-connect"))
