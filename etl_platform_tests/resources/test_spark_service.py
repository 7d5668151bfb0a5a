"""The Spark Connect service with real Spark: steps run on the server they are given (or on Spark of
their own), only clients with its token get in, and the command wrapper leaves no JVM behind."""

import json
import os
import select
import signal
import socket
import stat
import subprocess
import sys
from pathlib import Path

import dagster as dg
import psutil
import pytest

from etl_platform import spark_service
from etl_platform.environment import local_resources
from etl_platform.project import PROJECT_ROOT
from etl_platform.resources import LocalSparkRunner
from etl_platform.settings import get_settings
from etl_platform.spark_connect import TOKEN_VARIABLE
from etl_platform.spark_service import SparkServiceError, address, local_spark_service, spark_connect_server
from etl_platform_tests.helpers import stand_in_scripts

SPARK_SCRIPT = """
import argparse, os, pathlib, time
import lake_job
from etl_platform.contract.report import CheckOutcome

def main(reporter, argv):
    parser = argparse.ArgumentParser()
    parser.add_argument("--tag")
    parser.add_argument("--wait_for", default="")
    args = parser.parse_args(argv)
    spark = lake_job.spark_session("t")
    spark.conf.set("etl.test.tag", args.tag)
    here = pathlib.Path(__file__).parent
    (here / (args.tag + ".ready")).touch()
    deadline = time.time() + 120
    while args.wait_for and not (here / (args.wait_for + ".ready")).exists():
        assert time.time() < deadline, "the other step never started"
        time.sleep(0.1)
    groups = spark.range(1000).selectExpr("id % 7 AS k").groupBy("k").count().count()
    reporter.check(CheckOutcome("spark", True, metadata={
        "groups": groups,
        "server_port": spark.conf.get("spark.connect.grpc.binding.port", ""),
        "session": getattr(spark, "session_id", ""),
        "tag": spark.conf.get("etl.test.tag"),
        "remote": os.environ.get("SPARK_REMOTE", "").split("/;")[0],
        # The token comes in the environment, never in the URL, which the run's metadata and logs show.
        "token": "url" if ";token=" in os.environ.get("SPARK_REMOTE", "") else (
            "environment" if os.environ.get("SPARK_CONNECT_AUTHENTICATE_TOKEN") else ""),
    }))

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
    return stand_in_scripts(tmp_path, spark=SPARK_SCRIPT, bad_column=BAD_COLUMN_SCRIPT)


def _runner(scripts_dir: Path) -> LocalSparkRunner:
    """The local environment's runner (on the test process's server unless unset), on stand-in scripts."""
    base = local_resources()["spark"]
    return LocalSparkRunner(scripts_dir=str(scripts_dir), remote=base.remote, master="local[1]", driver_memory="512m")


def _asset(script: str, name: str = "t", **arguments: str) -> dg.AssetsDefinition:
    @dg.asset(name=name, retry_policy=dg.RetryPolicy(max_retries=2, delay=0))
    def _t(context: dg.AssetExecutionContext, spark: LocalSparkRunner) -> dg.MaterializeResult:
        (reported,) = spark.run_script(context, script, arguments).result.checks
        return dg.MaterializeResult(metadata=dict(reported.metadata))

    return _t


def _run(runner: LocalSparkRunner, asset: dg.AssetsDefinition) -> tuple[dg.ExecuteInProcessResult, list[str]]:
    with dg.instance_for_test() as instance:
        result = dg.materialize([asset], resources={"spark": runner}, instance=instance, raise_on_error=False)
        return result, [entry.user_message for entry in instance.all_logs(result.run_id)]


def _metadata(result: dg.ExecuteInProcessResult, name: str = "t") -> dict:
    return {key: value.value for key, value in result.asset_materializations_for_node(name)[0].metadata.items()}


def test_a_script_run_through_the_runner_uses_the_server_it_is_given(scripts_dir) -> None:
    remote = get_settings().spark_remote  # the test process's server (conftest)
    result, logs = _run(_runner(scripts_dir), _asset("spark.py", tag="a"))
    assert result.success
    metadata = _metadata(result)
    token = os.environ[TOKEN_VARIABLE]
    assert (metadata["remote"], metadata["token"], metadata["groups"]) == (address(remote), "environment", 7)
    assert f"sc://localhost:{metadata['server_port']}" == address(remote)  # the server the script ran on
    assert f"running spark.py on Spark Connect at {address(remote)} with {{'tag': 'a'}}" in logs
    assert not any(token in message for message in logs)


def test_without_a_remote_a_step_runs_on_spark_of_its_own(scripts_dir, monkeypatch) -> None:
    monkeypatch.delenv("ETL_SPARK_REMOTE")
    runner = _runner(scripts_dir)
    assert runner.remote is None
    result, logs = _run(runner, _asset("spark.py", tag="a"))
    assert result.success
    metadata = _metadata(result)
    assert (metadata["server_port"], metadata["remote"], metadata["token"], metadata["groups"]) == ("", "", "", 7)
    assert "running spark.py on local Spark (local[1]) with {'tag': 'a'}" in logs


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
from etl_platform import spark_service
from etl_platform.resources import LocalSparkRunner
from etl_platform_tests.resources.test_spark_service import _asset, _metadata

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
    assert x["session"] != y["session"] and x["remote"] == y["remote"] == address(get_settings().spark_remote)
    assert x["groups"] == y["groups"] == 7


CLIENT = """
import sys
from pyspark.sql.connect.session import SparkSession

for url in sys.argv[1:]:
    try:
        print(SparkSession.builder.remote(url).create().range(3).count())
    except Exception as error:
        print("refused" if "UNAUTHENTICATED" in str(error) else repr(error))
"""


def test_the_server_answers_only_clients_with_its_token() -> None:
    remote, token = get_settings().spark_remote, os.environ[TOKEN_VARIABLE]
    urls = [f"{remote}/;token={token}", remote, f"{remote}/;token=wrong"]
    environment = {name: value for name, value in os.environ.items() if name != TOKEN_VARIABLE}
    done = subprocess.run(
        [sys.executable, "-c", CLIENT, *urls], env=environment, capture_output=True, text=True, timeout=120
    )
    assert done.stdout.split() == ["3", "refused", "refused"], done.stderr[-3000:]


def test_a_server_that_cannot_start_fails_with_one_line_and_its_logs_tail() -> None:
    with pytest.raises(SparkServiceError) as raised:
        with spark_connect_server(master="local[1]", driver_memory="lots"):
            pass
    first, *tail = str(raised.value).splitlines()
    assert first.startswith("the Spark Connect server exited with status 1 before listening; last lines of ")
    assert any("Invalid maximum heap size: -Xmxlots" in line for line in tail)
    log = Path(first.rsplit(" ", 1)[1].rstrip(":"))
    assert log.is_file() and stat.S_IMODE(log.stat().st_mode) == 0o600  # kept, for its owner to look at
    log.unlink()


def test_a_port_taken_before_the_server_binds_it_is_chosen_again_not_mistaken_for_the_server(monkeypatch) -> None:
    with socket.create_server(("127.0.0.1", 0)) as stranger:
        taken = stranger.getsockname()[1]
        ports = iter([taken, spark_service.free_port()])
        monkeypatch.setattr(spark_service, "free_port", lambda: next(ports))
        with spark_connect_server(master="local[1]", driver_memory="512m") as remote:
            done = subprocess.run([sys.executable, "-c", CLIENT, remote], capture_output=True, text=True, timeout=120)
    assert not remote.startswith(f"sc://localhost:{taken}/")
    assert done.stdout.split() == ["3"], done.stderr[-3000:]


def _java_children() -> set[int]:
    return {child.pid for child in psutil.Process().children() if child.name() == "java"}


def test_a_given_server_is_used_and_none_is_started(monkeypatch) -> None:
    """Its token (if the URL carries one) goes to the environment for the block, not to the address
    the command's steps show and store."""
    monkeypatch.setenv("ETL_SPARK_REMOTE", "sc://spark.example:15002/;token=abc;user_id=me")
    outside = os.environ[TOKEN_VARIABLE]  # the test process's server's
    before = _java_children()
    with local_spark_service() as remote:
        assert remote == "sc://spark.example:15002/;user_id=me" and _java_children() == before
        assert os.environ[TOKEN_VARIABLE] == "abc"
    assert os.environ[TOKEN_VARIABLE] == outside


def test_the_aws_profile_gets_no_server(monkeypatch) -> None:
    monkeypatch.delenv("ETL_SPARK_REMOTE")
    monkeypatch.setenv("ETL_PLATFORM_ENV", "aws")
    before = _java_children()
    with local_spark_service() as remote:
        assert remote is None and _java_children() == before


# The command under the wrapper: says which server it got and which JVMs the wrapper runs, then
# queries the server (``query``), waits for a signal (``wait``) or does nothing; exits with argv[2].
COMMAND = """
import json, os, signal, sys
import psutil

action, code = sys.argv[1], int(sys.argv[2])
signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
jvms = [[p.pid, p.create_time()] for p in psutil.Process(os.getppid()).children() if p.name() == "java"]
print(json.dumps({"remote": os.environ.get("ETL_SPARK_REMOTE"), "jvms": jvms}), flush=True)
if action == "query":
    from pyspark.sql.connect.session import SparkSession
    print(SparkSession.builder.remote(os.environ["ETL_SPARK_REMOTE"]).create().range(4).count(), flush=True)
elif action == "wait":
    print(signal.Signals(signal.sigwait({signal.SIGINT, signal.SIGTERM})).name, flush=True)
sys.exit(code)
"""
DEADLINE_SECONDS = 180


def _wrapper(action: str, code: int, monkeypatch) -> subprocess.Popen:
    """``python -m etl_platform.spark_service -- python -c COMMAND``, as `make dev` runs `dagster dev`,
    with no server given (the test process's is not passed on) and a small one started."""
    monkeypatch.delenv("ETL_SPARK_REMOTE")
    monkeypatch.setenv("ETL_SPARK_MASTER", "local[1]")
    monkeypatch.setenv("ETL_SPARK_DRIVER_MEMORY", "512m")
    command = [sys.executable, "-m", "etl_platform.spark_service", "--", sys.executable, "-c", COMMAND]
    return subprocess.Popen(
        [*command, action, str(code)], cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def _first_line(process: subprocess.Popen) -> dict:
    """The command's report, once the server is up and the command runs."""
    ready, _, _ = select.select([process.stdout], [], [], DEADLINE_SECONDS)
    assert ready, "the command did not start"
    line = process.stdout.readline()
    assert line, process.stderr.read()[-3000:]
    return json.loads(line)


def _running(pid: int, created: float) -> bool:
    try:
        process = psutil.Process(pid)
        return process.create_time() == created and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


@pytest.mark.parametrize("code", [0, 3], ids=["succeeds", "fails"])
def test_the_wrapper_gives_its_command_a_server_and_stops_it_when_the_command_ends(code, monkeypatch) -> None:
    wrapper = _wrapper("query", code, monkeypatch)
    report = _first_line(wrapper)
    rest, errors = wrapper.communicate(timeout=DEADLINE_SECONDS)
    assert wrapper.returncode == code, errors[-3000:]
    assert report["remote"].startswith("sc://localhost:") and rest.split() == ["4"]  # the server answered
    assert report["remote"] == address(report["remote"])  # its token came in the environment
    assert f"Spark Connect server for {sys.executable}: {address(report['remote'])}" in errors
    ((pid, created),) = report["jvms"]
    assert not _running(pid, created)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_to_the_wrapper_reaches_its_command_and_the_server_stops(signum, monkeypatch) -> None:
    wrapper = _wrapper("wait", 0, monkeypatch)
    report = _first_line(wrapper)
    wrapper.send_signal(signum)
    rest, errors = wrapper.communicate(timeout=DEADLINE_SECONDS)
    assert wrapper.returncode == 0, errors[-3000:]
    assert rest.split() == [signal.Signals(signum).name]
    ((pid, created),) = report["jvms"]
    assert not _running(pid, created)


def test_the_wrapper_needs_a_command_it_can_run_before_it_starts_a_server() -> None:
    wrapper = [sys.executable, "-m", "etl_platform.spark_service", "--"]
    done = subprocess.run(wrapper, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "no command given" in done.stderr
    done = subprocess.run([*wrapper, "no-such-command"], capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stderr) == (127, "spark_service: error: no such command: no-such-command\n")
