"""Runs a ``glue-scripts/`` script with Glue-style arguments and returns what it reported via Pipes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import warnings
from abc import ABC, abstractmethod
from collections.abc import Mapping
from contextlib import ExitStack
from pathlib import Path

import dagster as dg
from dagster._core.errors import DagsterExecutionInterruptedError

from etl_platform.datasets import Capacity
from etl_platform.project import GLUE_SCRIPTS_DIR


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
    return dg.Failure(description=f"{script} failed: {errors[0]['error']}", allow_retries=errors[0].get("retryable", True))


class LocalSparkRunner(SparkJobRunner):
    """Each script in its own Python process on local Spark, through Dagster Pipes.

    ``PipesSubprocessClient`` would do the launching, but when the process fails it raises before
    returning the session, so the script's own error message is lost; this keeps the session.
    """

    scripts_dir: str = str(GLUE_SCRIPTS_DIR)
    master: str = "local[*]"
    driver_memory: str = "2g"
    spark_conf: dict[str, str] = {}
    termination_timeout_seconds: float = 20

    def _environment(self) -> dict[str, str]:
        conf = {
            "spark.ui.enabled": "false",
            "spark.ui.showConsoleProgress": "false",
            "spark.log.level": "WARN",
            "spark.sql.adaptive.enabled": "true",
            **self.spark_conf,
        }
        submit_args = [f"--master {self.master}", f"--driver-memory {self.driver_memory}"]
        submit_args += [f"--conf {key}={value}" for key, value in conf.items()]
        python_path = os.pathsep.join(filter(None, [self.scripts_dir, os.environ.get("PYTHONPATH")]))
        return {
            "PYSPARK_SUBMIT_ARGS": " ".join([*submit_args, "pyspark-shell"]),
            "PYSPARK_PYTHON": sys.executable,
            "PYTHONPATH": python_path,
            "SPARK_LOCAL_IP": os.environ.get("SPARK_LOCAL_IP", "127.0.0.1"),
        }

    def command(self, script: str, arguments: Mapping[str, str]) -> list[str]:
        path = Path(self.scripts_dir) / script
        if not path.is_file():
            raise dg.Failure(description=f"Spark script {path} does not exist")
        return [sys.executable, str(path), *[part for name, value in arguments.items() for part in (f"--{name}", value)]]

    def run_script(
        self,
        context: dg.AssetExecutionContext,
        script: str,
        arguments: Mapping[str, str],
        capacity: Capacity = Capacity(),
    ) -> dg.PipesClientCompletedInvocation:
        command = self.command(script, arguments)
        context.log.info(f"running {script} on local Spark ({self.master}) with {dict(arguments)}")
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
            process = subprocess.Popen(
                command, env={**os.environ, **self._environment(), **session.get_bootstrap_env_vars()}
            )
            try:
                returncode = process.wait(timeout=capacity.timeout_minutes * 60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
                raise dg.Failure(
                    description=f"{script} timed out after {capacity.timeout_minutes} minutes", allow_retries=True
                ) from None
            except DagsterExecutionInterruptedError:
                context.log.info(f"run interrupted: stopping {script}")
                process.send_signal(signal.SIGINT)
                process.wait(timeout=self.termination_timeout_seconds)
                raise
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
            raise script_error(script, list(session.get_custom_messages()), f"exit code {returncode}")
        return dg.PipesClientCompletedInvocation(session)
