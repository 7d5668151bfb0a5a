"""Runs a ``glue-scripts/`` script with Glue-style arguments and returns what it reported via Pipes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import warnings
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import IO, Literal

import dagster as dg
from dagster._core.errors import DagsterExecutionInterruptedError

from etl_platform.datasets import Capacity
from etl_platform.project import DEFAULT_DAGSTER_HOME, GLUE_SCRIPTS_DIR
from etl_platform.warm_spark import ServerSettings, ServerStartError, leased_server


class SparkJobRunner(dg.ConfigurableResource, ABC):
    """The Spark job runner interface.

    ``arguments`` are the job arguments without leading dashes, as a Glue job receives them;
    ``capacity`` sizes the job. An implementation runs the script to completion, fails the step
    with the script's own error message when it fails (retryable unless the data is at fault), and
    returns the Pipes invocation holding the reported materialisation and checks.
    """

    @abstractmethod
    def run_script(
        self,
        context: dg.AssetExecutionContext,
        script: str,
        arguments: Mapping[str, str],
        capacity: Capacity = Capacity(),
    ) -> dg.PipesClientCompletedInvocation: ...


def script_error(script: str, invocation_messages: list, fallback: str) -> dg.Failure:
    """A step failure carrying the first error line the script reported, not just an exit code.

    Bad data (the script says ``retryable: false``) fails for good; anything else (a crash, a lost
    executor, throttling) may be transient and is left to the step's retry policy.
    """
    errors = [m for m in invocation_messages if isinstance(m, dict) and m.get("error")]
    if not errors:
        return dg.Failure(description=f"{script} failed: {fallback}", allow_retries=True)
    return dg.Failure(
        description=f"{script} failed: {errors[0]['error']}", allow_retries=errors[0].get("retryable", True)
    )


class ScriptOutput:
    """A script's stdout and stderr, line by line into the step's log at debug level.

    What a script reports travels through Pipes; its raw output (the same lines as logged, Spark's
    own warnings, a traceback) belongs with the run too, not on the terminal of whoever started
    it. The last line is kept for a script that dies before it can report an error.
    """

    def __init__(self, stream: IO[str], log: dg.DagsterLogManager, script: str):
        self.last_line = ""
        self._thread = threading.Thread(
            target=self._forward, args=(stream, log, script), name=f"output-{script}", daemon=True
        )
        self._thread.start()

    def _forward(self, stream: IO[str], log: dg.DagsterLogManager, script: str) -> None:
        with stream:
            for line in stream:
                if line.strip():
                    self.last_line = line.strip()
                    log.debug(f"{script}: {line.rstrip()}")

    def wait(self, timeout: float = 10) -> None:
        """Until the output ends (a Spark JVM the script started may hold it a moment longer)."""
        self._thread.join(timeout)


# Variables that pick how a script's SparkSession is made; each mode sets its own.
SESSION_VARIABLES = (
    "PYSPARK_SUBMIT_ARGS",
    "SPARK_REMOTE",
    "SPARK_CONNECT_MODE_ENABLED",
    "SPARK_CONNECT_AUTHENTICATE_TOKEN",
)


class LocalSparkRunner(SparkJobRunner):
    """Each script in its own Python process on local Spark, through Dagster Pipes.

    ``mode="connect"`` (the local environment's default): the script's
    ``SparkSession.builder.getOrCreate()`` returns a Spark Connect session (``SPARK_REMOTE``) on
    the warm server kept in ``server_dir`` (``etl_platform.warm_spark``), shared by every step
    and run, started on first use and stopped after ``idle_seconds`` unused: no JVM start and
    warm-up per step. ``mode="process"``: the script starts its own Spark JVM
    (``PYSPARK_SUBMIT_ARGS``), the way it does on Glue.

    ``PipesSubprocessClient`` would do the launching, but when the process fails it raises before
    returning the session, so the script's own error message is lost; this keeps the session.
    """

    scripts_dir: str = str(GLUE_SCRIPTS_DIR)
    master: str = "local[*]"
    driver_memory: str = "2g"
    spark_conf: dict[str, str] = {}
    termination_timeout_seconds: float = 20
    mode: Literal["connect", "process"] = "process"
    server_dir: str = str(DEFAULT_DAGSTER_HOME / "spark-connect")
    idle_seconds: float = 600

    def _conf(self) -> dict[str, str]:
        return {
            "spark.ui.enabled": "false",
            "spark.ui.showConsoleProgress": "false",
            "spark.log.level": "WARN",
            "spark.sql.adaptive.enabled": "true",
            **self.spark_conf,
        }

    def server_settings(self) -> ServerSettings:
        return ServerSettings(
            folder=self.server_dir,
            master=self.master,
            driver_memory=self.driver_memory,
            spark_conf=self._conf(),
            idle_seconds=self.idle_seconds,
        )

    @contextmanager
    def _session_environment(self, context: dg.AssetExecutionContext) -> Iterator[dict[str, str]]:
        """How the script gets its SparkSession, for as long as it runs."""
        if self.mode == "process":
            submit_args = [f"--master {self.master}", f"--driver-memory {self.driver_memory}"]
            submit_args += [f"--conf {key}={value}" for key, value in self._conf().items()]
            yield {"PYSPARK_SUBMIT_ARGS": " ".join([*submit_args, "pyspark-shell"])}
            return
        with ExitStack() as stack:
            try:
                server = stack.enter_context(leased_server(self.server_settings(), context.log.info))
            except ServerStartError as error:
                raise dg.Failure(description=str(error), allow_retries=True) from None
            yield server.client_environment()

    def _environment(self, session: Mapping[str, str]) -> dict[str, str]:
        python_path = os.pathsep.join(filter(None, [self.scripts_dir, os.environ.get("PYTHONPATH")]))
        inherited = {key: value for key, value in os.environ.items() if key not in SESSION_VARIABLES}
        return {
            **inherited,
            **session,
            "PYSPARK_PYTHON": sys.executable,
            "PYTHONPATH": python_path,
            "SPARK_LOCAL_IP": os.environ.get("SPARK_LOCAL_IP", "127.0.0.1"),
        }

    def command(self, script: str, arguments: Mapping[str, str]) -> list[str]:
        path = Path(self.scripts_dir) / script
        if not path.is_file():
            raise dg.Failure(description=f"Spark script {path} does not exist")
        return [
            sys.executable,
            str(path),
            *[part for name, value in arguments.items() for part in (f"--{name}", value)],
        ]

    def run_script(
        self,
        context: dg.AssetExecutionContext,
        script: str,
        arguments: Mapping[str, str],
        capacity: Capacity = Capacity(),
    ) -> dg.PipesClientCompletedInvocation:
        command = self.command(script, arguments)
        where = "the warm Spark Connect server" if self.mode == "connect" else f"local Spark ({self.master})"
        context.log.info(f"running {script} on {where} with {dict(arguments)}")
        with ExitStack() as stack:
            with warnings.catch_warnings():
                # Dagster flags an API it calls itself as preview; nothing for users to act on.
                warnings.simplefilter("ignore", dg.PreviewWarning)
                session = stack.enter_context(
                    dg.open_pipes_session(
                        context=context,
                        context_injector=dg.PipesTempFileContextInjector(),
                        message_reader=dg.PipesTempFileMessageReader(),
                    )
                )
            spark_session = stack.enter_context(self._session_environment(context))
            process = subprocess.Popen(
                command,
                env={**self._environment(spark_session), **session.get_bootstrap_env_vars()},
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                errors="replace",
            )
            output = ScriptOutput(process.stdout, context.log, script)  # type: ignore[arg-type]
            try:
                returncode = process.wait(timeout=capacity.timeout_minutes * 60)
            except subprocess.TimeoutExpired:
                self._stop(process)
                raise dg.Failure(
                    description=f"{script} timed out after {capacity.timeout_minutes} minutes", allow_retries=True
                ) from None
            except DagsterExecutionInterruptedError:
                context.log.info(f"run interrupted: stopping {script}")
                self._stop(process)
                raise
            finally:
                output.wait()
        if returncode != 0:
            # Checks the script reported before failing (e.g. raw_schema naming missing columns)
            # still belong in the UI. Events logged from a failing step are dropped with it, so
            # they go to the instance directly, tagged with this run.
            for result in session.get_reported_results():
                if isinstance(result, dg.AssetCheckResult):
                    context.instance.report_runless_asset_event(
                        dg.AssetCheckEvaluation(
                            asset_key=result.asset_key or context.asset_key,
                            check_name=result.check_name,
                            passed=result.passed,
                            severity=result.severity,
                            metadata={**result.metadata, "run_id": dg.MetadataValue.text(context.run.run_id)},
                        )
                    )
            crash = f"exit code {returncode}" + (f": {output.last_line}" if output.last_line else "")
            raise script_error(script, list(session.get_custom_messages()), crash)
        return dg.PipesClientCompletedInvocation(session)

    def _stop(self, process: subprocess.Popen) -> None:
        """SIGINT first: a script on Spark Connect then cancels its running query on the server."""
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=self.termination_timeout_seconds)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
