"""The local Spark Connect server: a service that the command needing it starts and stops.

A JVM per Spark step costs seconds to start and more to warm up. ``make dev``, ``make
materialize``, ``etl-platform demo`` and the test session instead start one Spark Connect server
beside their other processes, point every step at it (``ETL_SPARK_REMOTE``) and stop it when they
end. ``python -m etl_platform.spark_service -- COMMAND...`` runs a command that way.
"""

from __future__ import annotations

import argparse
import importlib.util
import logging
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import psutil

from etl_platform.settings import (
    DEFAULT_DRIVER_MEMORY,
    exported,
    get_settings,
    project_environment,
    subprocess_environment,
)
from etl_platform.spark_connect import LOCAL_CONF, TOKEN_VARIABLE, address, split_token

SERVER_CLASS = "org.apache.spark.sql.connect.service.SparkConnectServer"
START_TIMEOUT_SECONDS = 180
STOP_TIMEOUT_SECONDS = 30
# Starts of the server when the port chosen for it was taken before it could bind it.
BIND_ATTEMPTS = 3
# Exit statuses of a JVM that ended on SIGINT or SIGTERM (its own or the shell's convention).
SIGNALLED = {128 + signal.SIGINT, 128 + signal.SIGTERM, -signal.SIGINT, -signal.SIGTERM}

log = logging.getLogger(__name__)


class SparkServiceError(RuntimeError):
    """The server did not start; the message's first line says why, the rest is its log's tail."""


def spark_home() -> Path:
    """The installed PySpark's own Spark: the server must match the clients' version."""
    spec = importlib.util.find_spec("pyspark")
    if spec is None or not spec.submodule_search_locations:
        raise SparkServiceError("pyspark is not installed")
    return Path(spec.submodule_search_locations[0])


def free_port() -> int:
    """A loopback port nothing listens on now (the server binds it a moment later)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def listens(jvm: subprocess.Popen, port: int) -> bool:
    """The server's own JVM accepts connections on ``port`` (its gRPC service is registered before it
    listens). Another process that took the port meanwhile must not pass for it: a client would then
    talk gRPC to a stranger and retry for minutes."""
    try:
        sockets = psutil.Process(jvm.pid).net_connections(kind="tcp")
    except (psutil.NoSuchProcess, psutil.ZombieProcess):
        return False
    return any(s.status == psutil.CONN_LISTEN and s.laddr and s.laddr.port == port for s in sockets)


def server_name(owner: int) -> str:
    """The server's application name, on its command line: which process started it."""
    return f"etl_platform Spark Connect for pid {owner}"


def _server_command(master: str, driver_memory: str, conf: Mapping[str, str], port: int) -> list[str]:
    conf = {**conf, "spark.connect.grpc.binding.address": "127.0.0.1", "spark.connect.grpc.binding.port": str(port)}
    return [
        str(spark_home() / "bin" / "spark-submit"),
        *("--class", SERVER_CLASS, "--name", server_name(os.getpid())),
        *("--master", master, "--driver-memory", driver_memory),
        *[part for key, value in conf.items() for part in ("--conf", f"{key}={value}")],
    ]


def _tail(path: str, lines: int = 20) -> str:
    try:
        return "\n".join(Path(path).read_text(errors="replace").strip().splitlines()[-lines:])
    except OSError:
        return ""


def _stop(jvm: subprocess.Popen) -> None:
    if jvm.poll() is None:
        jvm.terminate()
        try:
            jvm.wait(timeout=STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            jvm.kill()
            jvm.wait()


def _launch(command: list[str], environment: dict[str, str]) -> tuple[subprocess.Popen, str]:
    with tempfile.NamedTemporaryFile(prefix="spark-connect-", suffix=".log", delete=False) as output:
        # A process group of its own: a terminal's Ctrl-C reaches the command that owns the server,
        # which stops it once its steps have stopped their scripts; signalled with them, the server
        # would die first and each script wait on it until its stop times out.
        jvm = subprocess.Popen(
            command,
            env=environment,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            process_group=0,
        )
    return jvm, output.name


def _listening(jvm: subprocess.Popen, port: int, log_path: str, deadline: float, retry: bool) -> bool:
    """Wait for the JVM to listen on ``port``: True once it does, False when it lost the port to
    another process and ``retry`` allows another start; else its log's tail in one error."""
    while not listens(jvm, port):
        if jvm.poll() is not None:
            if retry and "BindException" in _tail(log_path, lines=200):
                return False
            raise SparkServiceError(
                f"the Spark Connect server exited with status {jvm.returncode} before listening; "
                f"last lines of {log_path}:\n{_tail(log_path)}"
            )
        if time.monotonic() > deadline:
            raise SparkServiceError(
                f"the Spark Connect server did not listen within {START_TIMEOUT_SECONDS:g} s; "
                f"last lines of {log_path}:\n{_tail(log_path)}"
            )
        time.sleep(0.1)
    return True


def _started(
    master: str, driver_memory: str, conf: Mapping[str, str], environment: dict[str, str], deadline: float
) -> tuple[subprocess.Popen, int, str]:
    """A JVM listening on a port of its own, with its log; a port taken by another process between
    choosing and binding it (the JVM then exits on the bind error) is chosen again."""
    attempt = 1
    while True:
        port = free_port()
        jvm, log_path = _launch(_server_command(master, driver_memory, conf, port), environment)
        try:
            if _listening(jvm, port, log_path, deadline, retry=attempt < BIND_ATTEMPTS):
                return jvm, port, log_path
        except BaseException:
            _stop(jvm)
            raise
        os.unlink(log_path)
        attempt += 1


@contextmanager
def spark_connect_server(
    master: str = "local[*]",
    driver_memory: str = DEFAULT_DRIVER_MEMORY,
    conf: Mapping[str, str] = LOCAL_CONF,
) -> Iterator[str]:
    """A Spark Connect server (a child JVM) for the block; yields its ``sc://`` URL.

    It listens on a free loopback port and accepts only clients that present a fresh token, which
    the URL carries (``;token=``: on ``localhost`` the client sends it without TLS). It is ready
    when the block starts and stopped when the block ends, however it ends. Its output goes to a
    temporary log, kept (and named) only when the server did not start or ended on its own.
    """
    token = secrets.token_hex(16)
    environment = subprocess_environment(
        SPARK_HOME=str(spark_home()),
        **{TOKEN_VARIABLE: token},  # not on the command line, where anyone could read it
        SPARK_LOCAL_IP="127.0.0.1",
        PYSPARK_PYTHON=sys.executable,
    )
    for name in ("SPARK_REMOTE", "SPARK_CONNECT_MODE_ENABLED", "PYSPARK_SUBMIT_ARGS"):
        environment.pop(name, None)
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    jvm, port, log_path = _started(master, driver_memory, conf, environment, deadline)
    try:
        yield f"sc://localhost:{port}/;token={token}"
    finally:
        status = jvm.poll()
        _stop(jvm)
        if status in (None, *SIGNALLED):
            os.unlink(log_path)
        else:
            log.warning(f"the Spark Connect server had exited with status {status}; its log: {log_path}")


@contextmanager
def local_spark_service() -> Iterator[str | None]:
    """The Spark Connect address for a command's steps, for as long as it runs (``ETL_SPARK_REMOTE``),
    with its token in this process's environment (``SPARK_CONNECT_AUTHENTICATE_TOKEN``), never in the
    address: whatever shows or stores the address (resource config, metadata, logs) has no token.

    The settings' own when set (a server of the user's: nothing is started); else, with the local
    profile, that of a server started for the block with the settings' master and driver memory.
    None with the AWS profile (Glue runs the scripts).
    """
    settings = get_settings()
    if settings.spark_remote or settings.platform_env != "local":
        with exported(**({TOKEN_VARIABLE: settings.spark_token} if settings.spark_token else {})):
            yield settings.spark_address
        return
    with spark_connect_server(settings.spark_master, settings.spark_driver_memory) as remote:
        public, token = split_token(remote)
        with exported(**({TOKEN_VARIABLE: token} if token else {})):
            yield public


class _Forwarder:
    """Signals the wrapper gets go to the command's process group, once; before the command runs,
    they end the wrapper (stopping the server)."""

    def __init__(self) -> None:
        self.command: subprocess.Popen | None = None

    def __call__(self, signum: int, frame: object) -> None:
        if self.command is None:
            raise SystemExit(128 + signum)
        try:
            os.killpg(self.command.pid, signum)
        except ProcessLookupError:  # the command has ended; the server is being stopped
            pass


def run_with_server(command: list[str]) -> int:
    """Run ``command`` with the service's server, then stop the server; the command's exit status.

    The command runs in a process group of its own, so each signal reaches it once, through
    here: a terminal's Ctrl-C (sent to this process's group), a SIGTERM to this process alone, or
    one to its whole group.
    """
    if shutil.which(command[0]) is None:
        print(f"spark_service: error: no such command: {command[0]}", file=sys.stderr)
        return 127
    forward = _Forwarder()
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, forward)
    with local_spark_service() as remote:
        if remote:
            print(f"Spark Connect server for {command[0]}: {address(remote)}", file=sys.stderr, flush=True)
        environment = subprocess_environment(ETL_SPARK_REMOTE=remote) if remote else subprocess_environment()
        forward.command = subprocess.Popen(command, env=environment, process_group=0)
        code = forward.command.wait()
    return 128 - code if code < 0 else code


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m etl_platform.spark_service",
        usage="%(prog)s -- COMMAND [ARGUMENT...]",
        description="Run a command with a Spark Connect server of its own (ETL_SPARK_REMOTE), stopped when it ends.",
    )
    parser.add_argument("command", nargs=argparse.REMAINDER)
    command = parser.parse_args(argv).command
    command = command[1:] if command[:1] == ["--"] else command
    if not command:
        parser.error("no command given")
    try:
        with project_environment():  # the settings in .env, as the command itself reads them
            return run_with_server(command)
    except SparkServiceError as error:
        print(f"spark_service: error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
