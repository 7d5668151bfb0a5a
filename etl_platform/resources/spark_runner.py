"""Runs a ``glue-scripts/`` script with Glue-style arguments and returns what it reported via Pipes."""

from __future__ import annotations

import atexit
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import warnings
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import IO

import dagster as dg

from etl_platform.contract.jobs import ProcessJob
from etl_platform.contract.report import ScriptResult
from etl_platform.datasets import Capacity
from etl_platform.project import GLUE_SCRIPTS_DIR
from etl_platform.resources.processing import FileProcessor
from etl_platform.resources.script_run import ScriptRun, script_failed
from etl_platform.resources.usage import local_usage
from etl_platform.settings import DEFAULT_DRIVER_MEMORY, get_settings, subprocess_environment
from etl_platform.spark_connect import LOCAL_CONF, TOKEN_VARIABLE, address


class SparkJobRunner(dg.ConfigurableResource, FileProcessor, ABC):
    """The Spark job runner interface.

    ``arguments`` are the job arguments without leading dashes, as a Glue job receives them;
    ``capacity`` sizes the job. An implementation runs the script to completion and returns what
    it reported (``ScriptRun``, with the engine's usage in its metadata); when it fails, it raises
    ``ScriptFailed`` with the script's own failure record (retryable unless the data is at fault).
    """

    def process_file(
        self, context: dg.AssetExecutionContext, script: str, job: ProcessJob, capacity: Capacity
    ) -> ScriptRun:
        return self.run_script(context, script, job.arguments(), capacity)

    @abstractmethod
    def run_script(
        self,
        context: dg.AssetExecutionContext,
        script: str,
        arguments: Mapping[str, str],
        capacity: Capacity = Capacity(),
    ) -> ScriptRun: ...


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


# How often a running script's run is checked for cancellation.
CANCEL_POLL_SECONDS = 1.0
# The scripts this process is running. A process that ends while a step still runs (a demo stopped
# with Ctrl-C, its run in a thread) must not leave them behind: they are killed at its exit. One set
# per process, as the processes it tracks are.
_RUNNING: set[subprocess.Popen] = set()


# A script gets SIGINT (which cancels its Spark query) when the run worker that started it dies, even
# by SIGKILL, where no atexit runs: Linux's parent-death signal, set by util-linux's setpriv before
# it runs the script. Not prctl in a preexec_fn: that makes Python fork the whole process, and a
# fork of a process with gRPC threads (a Spark Connect client) can abort in the child.
DIES_WITH_PARENT = ["setpriv", "--pdeathsig", "INT", "--"] if shutil.which("setpriv") else []


@contextmanager
def _interruptible() -> Iterator[None]:
    """SIGINT unblocked in this thread while it starts a script: a process starts with its
    starter's blocked signals, and a script must stop on SIGINT (a Ctrl-C, ``_stop``, its parent's
    death). The demo's run thread blocks it, so Dagster's log helpers it starts ignore Ctrl-C."""
    previous = signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


@atexit.register
def _kill_running_scripts() -> None:
    for process in list(_RUNNING):
        if process.poll() is None:
            process.kill()


# Variables that pick how a script's SparkSession is made: the runner sets its own.
SESSION_VARIABLES = (
    "PYSPARK_SUBMIT_ARGS",
    "SPARK_REMOTE",
    "SPARK_CONNECT_MODE_ENABLED",
    TOKEN_VARIABLE,
)


class LocalSparkRunner(SparkJobRunner):
    """Each script in its own Python process on local Spark, through Dagster Pipes.

    With ``remote`` (a Spark Connect URL, ``sc://host:port``: the server of ``etl_platform.spark_service``
    or a cluster's), the script's ``SparkSession.builder.getOrCreate()`` returns a Connect session
    on it (``SPARK_REMOTE``): no JVM start and warm-up per step. The server's token is no part of
    ``remote``, which the UI shows and runs store: it is read from the settings when a script starts
    and given to the script's environment only. Without, the script starts a Spark
    JVM of its own (``PYSPARK_SUBMIT_ARGS``: ``master``, ``driver_memory``, ``spark_conf``), as it
    does on Glue.

    ``PipesSubprocessClient`` would do the launching, but when the process fails it raises before
    returning the session, so the script's own error message is lost; this keeps the session.
    """

    scripts_dir: str = str(GLUE_SCRIPTS_DIR)
    master: str = "local[*]"
    driver_memory: str = DEFAULT_DRIVER_MEMORY
    spark_conf: dict[str, str] = {}
    termination_timeout_seconds: float = 20
    remote: str | None = None

    def _session_environment(self) -> dict[str, str]:
        """How the script gets its SparkSession."""
        if self.remote:
            token = get_settings().spark_token
            return {"SPARK_REMOTE": self.remote, **({TOKEN_VARIABLE: token} if token else {})}
        submit_args = [f"--master {self.master}", f"--driver-memory {self.driver_memory}"]
        submit_args += [f"--conf {key}={value}" for key, value in {**LOCAL_CONF, **self.spark_conf}.items()]
        return {"PYSPARK_SUBMIT_ARGS": " ".join([*submit_args, "pyspark-shell"])}

    def _environment(self) -> dict[str, str]:
        inherited = {key: value for key, value in subprocess_environment().items() if key not in SESSION_VARIABLES}
        return {
            **inherited,
            **self._session_environment(),
            "PYSPARK_PYTHON": sys.executable,
            "PYTHONPATH": os.pathsep.join(filter(None, [self.scripts_dir, inherited.get("PYTHONPATH")])),
            "SPARK_LOCAL_IP": inherited.get("SPARK_LOCAL_IP", "127.0.0.1"),
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
    ) -> ScriptRun:
        command = self.command(script, arguments)
        started = time.monotonic()
        where = f"Spark Connect at {address(self.remote)}" if self.remote else f"local Spark ({self.master})"
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
            with _interruptible():
                process = subprocess.Popen(
                    [*DIES_WITH_PARENT, *command],
                    env={**self._environment(), **session.get_bootstrap_env_vars()},
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                    text=True,
                    errors="replace",
                )
            output = ScriptOutput(process.stdout, context.log, script)  # type: ignore[arg-type]
            _RUNNING.add(process)
            try:
                returncode = self._wait(context, process, script, capacity)
            except dg.DagsterExecutionInterruptedError:
                context.log.info(f"run interrupted: stopping {script}")
                self._stop(process)
                raise
            finally:
                _RUNNING.discard(process)
                output.wait()
        result = ScriptResult.from_messages(session.get_custom_messages())
        if returncode != 0:
            crash = f"exit code {returncode}" + (f": {output.last_line}" if output.last_line else "")
            raise script_failed(context, script, result, crash)
        usage = local_usage(
            "local_spark", time.monotonic() - started, {"spark": address(self.remote) if self.remote else self.master}
        )
        return ScriptRun(result, metadata=usage.metadata())

    def _wait(
        self, context: dg.AssetExecutionContext, process: subprocess.Popen, script: str, capacity: Capacity
    ) -> int:
        """The script's exit status. It is stopped if it outlives its capacity's timeout, or if its
        run is canceled meanwhile (from the UI, or by a demo interrupted while its run executes in
        process, where no signal reaches the step)."""
        deadline = time.monotonic() + capacity.timeout_minutes * 60
        while True:
            try:
                return process.wait(timeout=CANCEL_POLL_SECONDS)
            except subprocess.TimeoutExpired:
                pass
            if time.monotonic() > deadline:
                self._stop(process)
                raise dg.Failure(
                    description=f"{script} timed out after {capacity.timeout_minutes} minutes", allow_retries=True
                )
            run = context.instance.get_run_by_id(context.run.run_id)
            if run is not None and run.status in (dg.DagsterRunStatus.CANCELING, dg.DagsterRunStatus.CANCELED):
                context.log.info(f"run canceled: stopping {script}")
                self._stop(process)
                raise dg.Failure(description=f"{script} stopped: the run was canceled", allow_retries=False)

    def _stop(self, process: subprocess.Popen) -> None:
        """SIGINT first: a script on Spark Connect then cancels its running query on the server."""
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=self.termination_timeout_seconds)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
