"""``make serve``: the production shape on one machine, with real parts.

PostgreSQL (the instance's storage), the code location as a gRPC server, the webserver and the
daemon run as separate processes on the production instance config (``deploy/dagster.yaml``),
as ECS runs them on AWS; locally a Spark Connect server serves every step. Each child runs in a
process group of its own, with its output in ``<serve home>/process-logs/``; the terminal gets one line
per event. A child that dies is started again, as an ECS service would restart its task (PostgreSQL
included: the others reconnect on their own); one that keeps dying stops everything. Ctrl-C or
SIGTERM stops all of them, the webserver first and PostgreSQL last.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from etl_platform.instance import PRODUCTION_SETTINGS, ensure_instance
from etl_platform.postgres_service import LocalPostgres, PostgresServiceError
from etl_platform.settings import Settings, get_settings, subprocess_environment
from etl_platform.spark_service import SparkServiceError, address, local_spark_service

LOCATION_NAME = "etl_platform"
# Not `logs`: Dagster moves $DAGSTER_HOME/logs away (its telemetry queue).
LOG_DIR = "process-logs"
READY_TIMEOUT_SECONDS = 180
STOP_TIMEOUT_SECONDS = 30
# A child that dies this many times within the window is not started again: something is wrong.
MAX_RESTARTS, RESTART_WINDOW_SECONDS = 5, 600
BIN = Path(sys.executable).parent


class ServeError(RuntimeError):
    """The production mode could not start or keep running; one line says why."""


def say(line: str) -> None:
    print(f"serve: {line}", flush=True)


def _port_in_use(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def _answers_http(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


@dataclass
class Child:
    """One server process: how to start it, when it is ready, where its output goes."""

    name: str
    command: list[str]
    ready: Callable[[], bool]
    log: Path
    environment: dict[str, str]
    process: subprocess.Popen | None = None
    deaths: deque[float] = field(default_factory=deque)

    def start(self) -> None:
        with self.log.open("a") as out:
            self.process = subprocess.Popen(
                self.command, env=self.environment, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                process_group=0,  # a terminal's Ctrl-C reaches the supervisor only, which stops each in turn
                # Dagster's commands load .env from their working folder over the environment: the
                # project's names the development instance, so they start in the instance's folder.
                cwd=self.environment["DAGSTER_HOME"],
            )  # fmt: skip
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        while not self.ready():
            if self.process.poll() is not None:
                raise ServeError(f"{self.name} exited with status {self.process.returncode} on start; see {self.log}")
            if time.monotonic() > deadline:
                raise ServeError(f"{self.name} was not ready within {READY_TIMEOUT_SECONDS} s; see {self.log}")
            time.sleep(0.2)

    def exited(self) -> int | None:
        return None if self.process is None else self.process.poll()

    def stop(self) -> bool:
        """Stop it if it runs; whether it ran."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return False
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        return True


@dataclass
class PostgresChild:
    """The local PostgreSQL server as a child like the others."""

    server: LocalPostgres
    name: str = "PostgreSQL"
    deaths: deque[float] = field(default_factory=deque)

    def start(self) -> None:
        self.server.start()

    def exited(self) -> int | None:
        return None if self.server.process is None else self.server.process.poll()

    def stop(self) -> bool:
        running = self.exited() is None and self.server.process is not None
        self.server.stop()
        return running


def workspace_file(home: Path, settings: Settings) -> Path:
    """The webserver's and the daemon's workspace: the code location's gRPC server."""
    workspace = home / "workspace.yaml"
    server = {"host": "127.0.0.1", "port": settings.code_server_port, "location_name": LOCATION_NAME}
    workspace.write_text(yaml.safe_dump({"load_from": [{"grpc_server": server}]}, sort_keys=False))
    return workspace


def dagster_children(home: Path, settings: Settings, environment: dict[str, str]) -> list[Child]:
    workspace, logs = str(workspace_file(home, settings)), home / LOG_DIR
    logs.mkdir(exist_ok=True, mode=0o700)
    code_port, web_port = settings.code_server_port, settings.webserver_port
    return [
        Child(
            "code server",
            [str(BIN / "dagster"), "code-server", "start", "-m", "etl_platform.definitions"]
            + ["--location-name", LOCATION_NAME, "-h", "127.0.0.1", "-p", str(code_port)],
            lambda: _port_in_use(code_port),
            logs / "code-server.log",
            environment,
        ),
        Child(
            "webserver",
            [str(BIN / "dagster-webserver"), "-w", workspace, "-h", "127.0.0.1", "-p", str(web_port)],
            lambda: _answers_http(f"http://127.0.0.1:{web_port}/server_info"),
            logs / "webserver.log",
            environment,
        ),
        Child(
            "daemon",
            [str(BIN / "dagster-daemon"), "run", "-w", workspace],
            lambda: True,
            logs / "daemon.log",
            environment,
        ),
    ]


def _check_ports(settings: Settings, postgres: bool) -> None:
    ports = {"DAGSTER_WEBSERVER_PORT": settings.webserver_port, "ETL_CODE_SERVER_PORT": settings.code_server_port}
    if postgres:
        ports["ETL_POSTGRES_PORT"] = settings.postgres_port
    for variable, port in ports.items():
        if _port_in_use(port):
            raise ServeError(f"port {port} is in use on 127.0.0.1: stop what listens there or set {variable}")


@contextmanager
def _stopped_at_exit(children: Sequence[Child | PostgresChild]) -> Iterator[Sequence[Child | PostgresChild]]:
    try:
        yield children
    finally:
        for child in reversed(children):
            if child.stop():
                say(f"{child.name} stopped")


def _restart(child: Child | PostgresChild, status: int) -> None:
    now = time.monotonic()
    child.deaths.append(now)
    while child.deaths and child.deaths[0] < now - RESTART_WINDOW_SECONDS:
        child.deaths.popleft()
    if len(child.deaths) > MAX_RESTARTS:
        raise ServeError(
            f"{child.name} keeps exiting (status {status}, {len(child.deaths)} times in {RESTART_WINDOW_SECONDS} s)"
        )
    say(f"{child.name} exited with status {status}; starting it again")
    child.start()
    say(f"{child.name} is back")


class StopRequest:
    """Ctrl-C, SIGTERM or SIGHUP. Once everything is up, the watch loop ends and stops the children
    in order; while they start, the start is interrupted (and what had started stops)."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self.watching = False

    def __call__(self, signum: int, frame: object) -> None:
        if self.event.is_set():
            return
        self.event.set()
        say(f"{signal.Signals(signum).name}: stopping")
        if not self.watching:
            raise KeyboardInterrupt


def supervise(children: Sequence[Child | PostgresChild], stop: StopRequest, ui: str) -> None:
    """Start each child in turn, then restart any that dies, until a stop is requested; once all
    are up, say where the UI (at ``ui``) is."""
    for child in children:
        child.start()
        say(f"{child.name} is up")
    stop.watching = True
    say(f"ready: the UI at {ui}; Ctrl-C stops everything")
    while not stop.event.wait(0.5):
        for child in children:
            status = child.exited()
            if status is not None and not stop.event.is_set():
                _restart(child, status)


def serve(stop: StopRequest) -> None:
    """Everything up, watched until a stop is requested; then stopped in the reverse order: the
    Dagster services, the Spark server (no step needs it any more), PostgreSQL last."""
    settings = get_settings()
    home = ensure_instance(settings.serve_home, PRODUCTION_SETTINGS)
    own_postgres = settings.postgres_hostname is None
    _check_ports(settings, own_postgres)
    with ExitStack() as stack:
        environment = {"DAGSTER_HOME": str(home)}
        watched: list[Child | PostgresChild] = []
        if own_postgres:
            postgres = PostgresChild(LocalPostgres(home / "postgres", settings.postgres_port))
            environment |= postgres.server.connection.environment()
            watched += stack.enter_context(_stopped_at_exit([postgres]))
        remote = stack.enter_context(local_spark_service())
        if remote:
            say(f"Spark Connect server at {address(remote)}")
            environment["ETL_SPARK_REMOTE"] = remote
        children = dagster_children(home, settings, subprocess_environment(**environment))
        watched += stack.enter_context(_stopped_at_exit(children))
        say(f"instance {home}, logs in {home / LOG_DIR}")
        supervise(watched, stop, ui=f"http://127.0.0.1:{settings.webserver_port}")
    say("stopped")


def main() -> int:
    stop = StopRequest()
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, stop)
    try:
        serve(stop)
    except KeyboardInterrupt:
        say("stopped before it was ready")
        return 130
    except (ServeError, PostgresServiceError, SparkServiceError) as error:
        print(f"serve: error: {error}", file=sys.stderr)
        return 1
    return 0
