"""The keeper: a small detached process that owns the Spark Connect server's JVM.

Started by the first step that needs the server (``python -m etl_platform.warm_spark.keeper FOLDER
SETTINGS``), it outlives that step and its run. It starts the JVM on a free local port with a
fresh token, publishes them in the folder once the port answers, and stops the JVM after
``idle_seconds`` without a lease, on SIGTERM (``make spark-stop``), or follows
it when the JVM dies. It imports neither Dagster nor PySpark, so it costs a few MB.
"""

from __future__ import annotations

import ctypes
import importlib.util
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from etl_platform.warm_spark.folder import ServerFolder, ServerState
from etl_platform.warm_spark.settings import ServerSettings

SERVER_CLASS = "org.apache.spark.sql.connect.service.SparkConnectServer"
JVM_STOP_SECONDS = 30


def spark_home() -> Path:
    """The installed PySpark's own Spark: the server must match the client's version."""
    spec = importlib.util.find_spec("pyspark")
    assert spec is not None and spec.submodule_search_locations, "pyspark is not installed"
    return Path(spec.submodule_search_locations[0])


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def jvm_command(settings: ServerSettings, port: int) -> list[str]:
    conf = {
        **settings.spark_conf,
        "spark.connect.grpc.binding.address": "127.0.0.1",
        "spark.connect.grpc.binding.port": str(port),
    }
    return [
        str(spark_home() / "bin" / "spark-submit"),
        "--class",
        SERVER_CLASS,
        "--name",
        "etl_platform warm Spark",
        "--master",
        settings.master,
        "--driver-memory",
        settings.driver_memory,
        *[part for key, value in conf.items() for part in ("--conf", f"{key}={value}")],
    ]


def _die_with_parent() -> None:
    """Linux: the JVM gets SIGKILL if the keeper is killed outright, so it is never orphaned."""
    if sys.platform == "linux":
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def start_jvm(settings: ServerSettings, port: int, token: str, log) -> subprocess.Popen:
    environment = {
        **os.environ,
        "SPARK_HOME": str(spark_home()),
        "SPARK_CONNECT_AUTHENTICATE_TOKEN": token,
        "SPARK_LOCAL_IP": "127.0.0.1",
        "PYSPARK_PYTHON": sys.executable,
    }
    for name in ("SPARK_REMOTE", "SPARK_CONNECT_MODE_ENABLED", "PYSPARK_SUBMIT_ARGS"):
        environment.pop(name, None)
    return subprocess.Popen(
        jvm_command(settings, port),
        env=environment,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=log,
        preexec_fn=_die_with_parent,
    )


def stop_jvm(jvm: subprocess.Popen) -> None:
    if jvm.poll() is None:
        jvm.terminate()
        try:
            jvm.wait(timeout=JVM_STOP_SECONDS)
        except subprocess.TimeoutExpired:
            jvm.kill()
            jvm.wait()


class Keeper:
    def __init__(self, folder: ServerFolder, settings: ServerSettings):
        self.folder, self.settings = folder, settings
        self.pid = os.getpid()

    def say(self, message: str) -> None:
        print(f"{time.strftime('%Y-%m-%d %H:%M:%S')} keeper {self.pid}: {message}", file=sys.stderr, flush=True)

    def idle_for(self, last_active: float) -> float:
        return time.time() - max(last_active, self.folder.last_used())

    def run(self) -> int:
        life_lock = self.folder.hold_keeper_lock()  # held until this process exits
        if life_lock is None:
            self.say("another keeper is running here")
            return 1
        self.folder.write_state(ServerState(keeper_pid=self.pid, settings=self.settings.fingerprint))
        port, token = free_port(), secrets.token_hex(16)
        jvm = start_jvm(self.settings, port, token, sys.stderr)
        try:
            while not port_open(port):
                if jvm.poll() is not None:
                    self.say(f"the Spark Connect server exited with status {jvm.returncode} before listening")
                    return 1
                time.sleep(0.1)
            state = ServerState(self.pid, self.settings.fingerprint, port, jvm.pid, token)
            self.folder.write_state(state)
            self.say(f"Spark Connect server (pid {jvm.pid}) listening on 127.0.0.1:{port}")
            self.watch(jvm)
            return 0
        finally:
            self.folder.clear_state(self.pid)
            stop_jvm(jvm)
            self.say("stopped")

    def watch(self, jvm: subprocess.Popen) -> None:
        """Until the JVM dies or nothing used it for ``idle_seconds``."""
        idle_seconds = self.settings.idle_seconds
        poll = min(5.0, max(0.2, idle_seconds / 10))
        last_active = time.time()
        while jvm.poll() is None:
            time.sleep(poll)
            if self.folder.live_leases():
                last_active = time.time()
            elif self.idle_for(last_active) >= idle_seconds:
                with self.folder.locked():  # no step can lease it while it stops
                    if not self.folder.live_leases(remove_stale=True) and self.idle_for(last_active) >= idle_seconds:
                        self.say(f"idle for {idle_seconds:g} s: stopping")
                        self.folder.clear_state(self.pid)
                        stop_jvm(jvm)
                        return
        self.say(f"the Spark Connect server exited with status {jvm.returncode}")


def _terminate(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    folder, settings = (argv or sys.argv[1:])[:2]
    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGINT, _terminate)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    return Keeper(ServerFolder(folder), ServerSettings(**json.loads(settings))).run()


if __name__ == "__main__":
    sys.exit(main())
