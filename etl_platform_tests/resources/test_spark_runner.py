"""The local runner through real Dagster Pipes: arguments, environment, reported results, errors."""

import logging
import signal
import subprocess
import sys
import textwrap
import threading

import dagster as dg
import pytest

from etl_platform.environment import local_resources
from etl_platform.resources import LocalSparkRunner
from etl_platform.resources.script_run import ScriptRun
from etl_platform.resources.spark_runner import _interruptible
from etl_platform_tests.helpers import stand_in_scripts

# Stand-in scripts use the real lake_job plumbing but no JVM, so they run in a second. What they
# report (a check's metadata) becomes the materialisation's metadata.
ECHO_SCRIPT = """
import os
import lake_job
from etl_platform.contract.report import CheckOutcome

def main(reporter, argv):
    reporter.info("hello from the script")
    session = ("PYSPARK_SUBMIT_ARGS", "SPARK_REMOTE", "SPARK_CONNECT_MODE_ENABLED", "SPARK_CONNECT_AUTHENTICATE_TOKEN")
    reporter.check(CheckOutcome("echo", True, metadata={"argv": list(argv), **{n: os.environ.get(n) for n in session}}))

lake_job.run_job(main)
"""
FAILING_SCRIPT = """
import lake_job

def main(reporter, argv):
    raise lake_job.LakeJobError("landing/sales/x.csv: the header lacks expected columns ['Date']")

lake_job.run_job(main)
"""


@pytest.fixture
def scripts_dir(tmp_path):
    return stand_in_scripts(tmp_path, echo=ECHO_SCRIPT, failing=FAILING_SCRIPT)


def _reported(run: ScriptRun) -> dg.MaterializeResult:
    return dg.MaterializeResult(
        metadata={key: value for check in run.result.checks for key, value in check.metadata.items()}
    )


def _asset(script: str) -> dg.AssetsDefinition:
    @dg.asset(name="t")
    def _t(context: dg.AssetExecutionContext, spark: LocalSparkRunner) -> dg.MaterializeResult:
        return _reported(spark.run_script(context, script, {"input_path": "/lake/landing/sales/a b.csv"}))

    return _t


def _metadata(result: dg.ExecuteInProcessResult) -> dict:
    return {key: value.value for key, value in result.asset_materializations_for_node("t")[0].metadata.items()}


def test_runs_the_script_with_glue_style_arguments_and_spark_settings(scripts_dir) -> None:
    runner = LocalSparkRunner(
        scripts_dir=str(scripts_dir), master="local[1]", spark_conf={"spark.sql.shuffle.partitions": "3"}
    )
    with dg.instance_for_test() as instance:
        result = dg.materialize([_asset("echo.py")], resources={"spark": runner}, instance=instance)
        messages = [entry.user_message for entry in instance.all_logs(result.run_id)]
    assert result.success
    assert "hello from the script" in messages
    metadata = _metadata(result)
    assert metadata["argv"] == ["--input_path", "/lake/landing/sales/a b.csv"]
    submit = metadata["PYSPARK_SUBMIT_ARGS"]
    assert "--master local[1]" in submit and "spark.sql.shuffle.partitions=3" in submit
    assert submit.endswith("pyspark-shell") and metadata["SPARK_REMOTE"] is None


def test_with_a_remote_the_script_gets_a_spark_connect_session_there_and_its_token_apart(
    scripts_dir, monkeypatch
) -> None:
    """The remote's token is no part of the runner's config (the UI shows it, runs store it): the
    script gets it in its environment alone, the URL's before ``SPARK_CONNECT_AUTHENTICATE_TOKEN``'s.
    Submit arguments of the orchestrating process never reach it; the run's log names the server
    without its token."""
    monkeypatch.setenv("PYSPARK_SUBMIT_ARGS", "--master local[1] pyspark-shell")
    monkeypatch.setenv("ETL_SPARK_REMOTE", "sc://spark.example:15002/;token=secret")
    monkeypatch.setenv("SPARK_CONNECT_AUTHENTICATE_TOKEN", "other")
    remote = local_resources()["spark"].remote
    assert remote == "sc://spark.example:15002"
    runner = LocalSparkRunner(scripts_dir=str(scripts_dir), remote=remote)
    with dg.instance_for_test() as instance:
        result = dg.materialize([_asset("echo.py")], resources={"spark": runner}, instance=instance)
        messages = [entry.user_message for entry in instance.all_logs(result.run_id)]
    metadata = _metadata(result)
    assert (metadata["SPARK_REMOTE"], metadata["SPARK_CONNECT_AUTHENTICATE_TOKEN"]) == (remote, "secret")
    assert metadata["PYSPARK_SUBMIT_ARGS"] is None
    assert any(m.startswith("running echo.py on Spark Connect at sc://spark.example:15002 with") for m in messages)
    assert not any("secret" in message for message in messages if not message.startswith("check echo"))


def test_script_failure_fails_the_step_with_the_scripts_message(scripts_dir) -> None:
    runner = LocalSparkRunner(scripts_dir=str(scripts_dir))
    result = dg.materialize([_asset("failing.py")], resources={"spark": runner}, raise_on_error=False)
    assert not result.success
    (failure,) = result.get_step_failure_events()
    assert "failing.py failed: landing/sales/x.csv: the header lacks expected columns ['Date']" in str(
        failure.event_specific_data.error.message
    )


def test_missing_script_is_named(tmp_path) -> None:
    result = dg.materialize(
        [_asset("nope.py")], resources={"spark": LocalSparkRunner(scripts_dir=str(tmp_path))}, raise_on_error=False
    )
    (failure,) = result.get_step_failure_events()
    assert "nope.py does not exist" in failure.event_specific_data.error.message


FLAKY_SCRIPT = """
import pathlib, sys
import lake_job

def main(reporter, argv):
    marker = pathlib.Path(__file__).with_suffix(".ran")
    if not marker.exists():
        marker.write_text("once")
        raise RuntimeError("executor lost")

lake_job.run_job(main)
"""


def _retrying_asset(script: str) -> dg.AssetsDefinition:
    @dg.asset(name="t", retry_policy=dg.RetryPolicy(max_retries=2, delay=0))
    def _t(context: dg.AssetExecutionContext, spark: LocalSparkRunner) -> dg.MaterializeResult:
        return _reported(spark.run_script(context, script, {}))

    return _t


def _retries(result) -> int:
    return sum(e.event_type == dg.DagsterEventType.STEP_UP_FOR_RETRY for e in result.all_events)


def test_transient_script_errors_are_retried(scripts_dir) -> None:
    (scripts_dir / "flaky.py").write_text(textwrap.dedent(FLAKY_SCRIPT))
    result = dg.materialize(
        [_retrying_asset("flaky.py")], resources={"spark": LocalSparkRunner(scripts_dir=str(scripts_dir))}
    )
    assert result.success and _retries(result) == 1


def test_bad_data_errors_are_not_retried(scripts_dir) -> None:
    runner = LocalSparkRunner(scripts_dir=str(scripts_dir))
    result = dg.materialize([_retrying_asset("failing.py")], resources={"spark": runner}, raise_on_error=False)
    assert not result.success and _retries(result) == 0


NOISY_SCRIPT = """
import sys
import lake_job

def main(reporter, argv):
    print("a line on stdout")
    print("a line on stderr", file=sys.stderr)

lake_job.run_job(main)
"""


def test_script_output_goes_to_the_runs_log_not_the_terminal(scripts_dir, capfd) -> None:
    (scripts_dir / "noisy.py").write_text(textwrap.dedent(NOISY_SCRIPT))
    quiet = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}  # as the demo runs: no Dagster console
    runner = LocalSparkRunner(scripts_dir=str(scripts_dir))
    with dg.instance_for_test() as instance:
        result = dg.materialize([_asset("noisy.py")], run_config=quiet, resources={"spark": runner}, instance=instance)
        debug = [entry.user_message for entry in instance.all_logs(result.run_id) if entry.level == logging.DEBUG]
    assert result.success
    assert "noisy.py: a line on stdout" in debug and "noisy.py: a line on stderr" in debug
    terminal = capfd.readouterr()
    assert "a line on" not in terminal.out + terminal.err


def test_a_script_dying_before_it_can_report_fails_with_its_last_line(scripts_dir) -> None:
    (scripts_dir / "crashing.py").write_text("import no_such_module\n")
    result = dg.materialize(
        [_asset("crashing.py")],
        resources={"spark": LocalSparkRunner(scripts_dir=str(scripts_dir))},
        raise_on_error=False,
    )
    (failure,) = result.get_step_failure_events()
    message = failure.event_specific_data.error.message
    assert "crashing.py failed: exit code 1: ModuleNotFoundError: No module named 'no_such_module'" in message


def test_a_script_started_from_a_thread_that_blocks_sigint_still_gets_it() -> None:
    """A process starts with its starter thread's blocked signals (the demo's run thread blocks
    SIGINT, so that Dagster's log helpers ignore Ctrl-C); a script must not inherit that."""
    show = [sys.executable, "-c", "import signal; print(sorted(signal.pthread_sigmask(signal.SIG_BLOCK, [])))"]
    masks: dict[str, str] = {}

    def start() -> None:
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        masks["plain"] = subprocess.run(show, capture_output=True, text=True, check=True).stdout.strip()
        with _interruptible():
            masks["script"] = subprocess.run(show, capture_output=True, text=True, check=True).stdout.strip()

    thread = threading.Thread(target=start)
    thread.start()
    thread.join()
    assert masks == {"plain": "[<Signals.SIGINT: 2>]", "script": "[]"}
