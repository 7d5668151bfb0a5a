"""The warm server's folder: who runs it (a state file), who uses it (leases), and the locks between them.

Every lock is an ``flock``, which the kernel releases when its holder dies: a crashed step or
keeper never leaves the folder locked, and whether a keeper or a lease is alive needs no process
id (ids get reused).

```
server.lock   held while a server is checked, started or stopped (one at a time)
server.json   the running server: keeper pid, JVM pid, port, token, settings (owner-only)
keeper.lock   held by the keeper for as long as it lives
leases/<id>   each held by a step while its script runs on the server
last_used     touched whenever a lease ends
server.log    the keeper's and the JVM's output
```
"""

from __future__ import annotations

import fcntl
import json
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO


@dataclass(frozen=True)
class ServerState:
    """What ``server.json`` says. ``port`` is 0 while the server is starting."""

    keeper_pid: int
    settings: str
    port: int = 0
    jvm_pid: int = 0
    token: str = ""

    @property
    def ready(self) -> bool:
        return self.port > 0

    def client_environment(self) -> dict[str, str]:
        """What a script needs for ``SparkSession.builder.getOrCreate()`` to return a session on this server."""
        return {"SPARK_REMOTE": f"sc://localhost:{self.port}", "SPARK_CONNECT_AUTHENTICATE_TOKEN": self.token}


def _try_lock(file: IO) -> bool:
    try:
        fcntl.flock(file, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


class ServerFolder:
    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.state_file = self.path / "server.json"
        self.log_file = self.path / "server.log"
        self.leases = self.path / "leases"
        self.last_used_file = self.path / "last_used"

    def _open(self, name: str) -> IO:
        self.leases.mkdir(parents=True, exist_ok=True)
        return open(self.path / name, "a")

    @contextmanager
    def locked(self) -> Iterator[None]:
        with self._open("server.lock") as file:
            fcntl.flock(file, fcntl.LOCK_EX)
            yield

    def hold_keeper_lock(self) -> IO | None:
        """The keeper's life lock, or None when another keeper holds it. Keep the file open."""
        file = self._open("keeper.lock")
        if _try_lock(file):
            return file
        file.close()
        return None

    def keeper_alive(self) -> bool:
        with self._open("keeper.lock") as file:
            return not _try_lock(file)

    def read_state(self) -> ServerState | None:
        try:
            return ServerState(**json.loads(self.state_file.read_text()))
        except (OSError, ValueError, TypeError):
            return None

    def write_state(self, state: ServerState) -> None:
        """Atomically, readable by the owner only (it holds the server's token)."""
        self.path.mkdir(parents=True, exist_ok=True)
        temporary = self.path / f".server.{os.getpid()}.json"
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as file:
            json.dump(asdict(state), file)
        os.replace(temporary, self.state_file)

    def clear_state(self, keeper_pid: int | None = None) -> None:
        """Remove the state file, or only if it is ``keeper_pid``'s."""
        state = self.read_state()
        if keeper_pid is None or (state is not None and state.keeper_pid == keeper_pid):
            self.state_file.unlink(missing_ok=True)

    @contextmanager
    def lease(self) -> Iterator[None]:
        """Marks the server as in use until the block ends (or the holder dies).

        The lease is locked under a hidden name, then renamed into view, so a keeper never sees
        an unlocked (seemingly dead) lease.
        """
        name = uuid.uuid4().hex
        hidden = self._open(f"leases/.{name}")
        try:
            fcntl.flock(hidden, fcntl.LOCK_EX)
            os.replace(self.leases / f".{name}", self.leases / name)
            yield
        finally:
            self.last_used_file.touch()
            (self.leases / name).unlink(missing_ok=True)
            hidden.close()

    def live_leases(self, remove_stale: bool = False) -> int:
        """Leases whose holder is alive; those of dead holders are removed if asked (under ``locked``)."""
        live = 0
        for path in self.leases.glob("[!.]*"):
            try:
                with open(path) as file:
                    if not _try_lock(file):
                        live += 1
                    elif remove_stale:
                        path.unlink(missing_ok=True)
            except FileNotFoundError:
                continue
        return live

    def last_used(self) -> float:
        try:
            return self.last_used_file.stat().st_mtime
        except FileNotFoundError:
            return 0.0
