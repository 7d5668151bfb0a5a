"""Find, start, lease and stop the warm Spark Connect server shared by every local step and run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager

from etl_platform.warm_spark.folder import ServerFolder, ServerState
from etl_platform.warm_spark.keeper import port_open
from etl_platform.warm_spark.settings import ServerSettings

KEEPER_STOP_SECONDS = 60


class ServerStartError(RuntimeError):
    """The server did not come up; the message carries the end of its log."""


@contextmanager
def leased_server(settings: ServerSettings, say: Callable[[str], None] = lambda _: None) -> Iterator[ServerState]:
    """A healthy server, started if needed, kept from stopping until the block ends.

    Checking and starting happen under the folder's lock, so steps starting together share one
    server; a dead or unresponsive server is replaced; one started with other settings is replaced
    once nothing uses it (until then it is used as it is).
    """
    folder = ServerFolder(settings.folder)
    with ExitStack() as stack:
        with folder.locked():
            state = _usable(folder, settings, say) or _start(folder, settings, say)
            stack.enter_context(folder.lease())
        yield state


def _usable(folder: ServerFolder, settings: ServerSettings, say: Callable[[str], None]) -> ServerState | None:
    state = folder.read_state()
    if state is None:
        return None
    if not (state.ready and folder.keeper_alive() and _alive(state.jvm_pid) and port_open(state.port)):
        say(f"the Spark Connect server in {folder.path} is not answering: replacing it")
        _stop(folder, state)
        return None
    if state.settings != settings.fingerprint:
        if not folder.live_leases(remove_stale=True):
            say("the Spark Connect server was started with other settings: replacing it")
            _stop(folder, state)
            return None
        say("the Spark Connect server was started with other settings and is busy: using it as it is")
    say(f"using the warm Spark Connect server (pid {state.jvm_pid}, port {state.port})")
    return state


def _start(folder: ServerFolder, settings: ServerSettings, say: Callable[[str], None]) -> ServerState:
    say(f"starting a Spark Connect server ({settings.master}, driver memory {settings.driver_memory}) in {folder.path}")
    started = time.monotonic()
    folder.path.mkdir(parents=True, exist_ok=True)
    with open(folder.log_file, "w") as log:
        keeper = subprocess.Popen(
            [sys.executable, "-m", "etl_platform.warm_spark.keeper", str(folder.path), settings.to_json()],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
    while time.monotonic() - started < settings.start_timeout_seconds:
        state = folder.read_state()
        if state is not None and state.keeper_pid == keeper.pid and state.ready:
            say(
                f"Spark Connect server (pid {state.jvm_pid}, port {state.port}) up in {time.monotonic() - started:.1f} s"
            )
            return state
        if keeper.poll() is not None:
            raise ServerStartError(f"the Spark Connect server did not start: {_log_tail(folder)}")
        time.sleep(0.1)
    keeper.terminate()
    keeper.wait()
    raise ServerStartError(
        f"the Spark Connect server did not start within {settings.start_timeout_seconds:g} s: {_log_tail(folder)}"
    )


def _log_tail(folder: ServerFolder, lines: int = 15) -> str:
    try:
        tail = folder.log_file.read_text(errors="replace").strip().splitlines()[-lines:]
    except OSError:
        tail = []
    return f"last lines of {folder.log_file}:\n" + "\n".join(tail)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _stop(folder: ServerFolder, state: ServerState) -> None:
    """Stop the keeper (which stops its JVM) and wait for it to let go of its life lock.

    Process ids are only signalled while the keeper's lock shows that keeper is still alive.
    """
    if folder.keeper_alive():
        os.kill(state.keeper_pid, signal.SIGTERM)
        deadline = time.monotonic() + KEEPER_STOP_SECONDS
        while folder.keeper_alive() and time.monotonic() < deadline:
            time.sleep(0.1)
        if folder.keeper_alive():
            for pid in filter(None, (state.jvm_pid, state.keeper_pid)):
                os.kill(pid, signal.SIGKILL)
    folder.clear_state()


def stop_server(folder_path: str | os.PathLike) -> ServerState | None:
    """Stop the server kept in ``folder_path``, even while steps use it; returns what was stopped."""
    folder = ServerFolder(folder_path)
    with folder.locked():
        state = folder.read_state()
        if state is not None:
            _stop(folder, state)
        return state


def server_status(folder_path: str | os.PathLike) -> ServerState | None:
    """The server kept in ``folder_path`` if one is running and answering."""
    folder = ServerFolder(folder_path)
    state = folder.read_state()
    if state is not None and state.ready and folder.keeper_alive() and port_open(state.port):
        return state
    return None
