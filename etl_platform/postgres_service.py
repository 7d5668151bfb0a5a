"""A local PostgreSQL server for the production mode: real PostgreSQL, no Docker, no system package.

The server's programs come from the ``pgserver`` wheel (PostgreSQL 16 built for pip); its
lifecycle is the platform's own, because ``pgserver.PostgresServer`` daemonises the server, binds
only a Unix socket and stops it from ``atexit``, while ``make serve`` needs a foreground child on
a TCP port that it can watch, restart and stop with everything else it started.

The cluster lives in one folder: created on first use (``initdb``, with a generated password kept
beside it, created readable by its owner only), then reused, so runs, schedules and sensor
cursors survive a restart. PostgreSQL refuses to run as root; as root, the server runs as a system
account of its own, created if missing.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import pwd
import secrets
import shutil
import signal
import stat
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TypedDict

import psycopg2

DATABASE = "dagster"
USER = "dagster"
# The account the server runs as when the platform runs as root: one of its own, so that its files
# and processes are no other daemon's (as they would be under ``nobody``).
SERVER_ACCOUNT = "etl_platform_pg"
START_TIMEOUT_SECONDS = 60
STOP_TIMEOUT_SECONDS = 30


class PostgresServiceError(RuntimeError):
    """The server could not be set up or did not start; the message says why in its first line."""


@dataclass(frozen=True)
class Connection:
    """Where the server listens and how to log in: the ``DAGSTER_POSTGRES_*`` variables the
    production instance config reads."""

    host: str
    port: int
    user: str
    password: str
    database: str

    def environment(self) -> dict[str, str]:
        return {
            "DAGSTER_POSTGRES_HOSTNAME": self.host,
            "DAGSTER_POSTGRES_PORT": str(self.port),
            "DAGSTER_POSTGRES_USER": self.user,
            "DAGSTER_POSTGRES_PASSWORD": self.password,
            "DAGSTER_POSTGRES_DB": self.database,
        }

    def connect(self, database: str | None = None, timeout_seconds: int = 5) -> psycopg2.extensions.connection:
        return psycopg2.connect(
            host=self.host,
            port=self.port,
            user=self.user,
            password=self.password,
            dbname=database or self.database,
            connect_timeout=timeout_seconds,
        )


def _installed_programs() -> Path:
    spec = importlib.util.find_spec("pgserver")
    if spec is None or not spec.submodule_search_locations:
        raise PostgresServiceError("pgserver is not installed (make setup installs it)")
    return Path(spec.submodule_search_locations[0]) / "pginstall"


def _closed_folder(folder: Path) -> Path | None:
    """The first folder from ``folder`` up that other accounts may not enter, if any."""
    return next((p for p in [folder, *folder.parents] if p.exists() and not p.stat().st_mode & stat.S_IXOTH), None)


def postgres_bin() -> Path:
    """The server's programs. As root, they run as ``SERVER_ACCOUNT``: if the environment they are installed
    in is in a folder others may not enter (a home folder), a copy in the temporary folder is used,
    made once per pgserver version and owned by root."""
    installed = _installed_programs()
    if _run_as() is None or _closed_folder(installed) is None:
        return installed / "bin"
    copy = Path(tempfile.gettempdir()) / f"etl-platform-postgres-{importlib.metadata.version('pgserver')}"
    if copy.exists() and (copy.stat().st_uid != 0 or copy.stat().st_mode & (stat.S_IWGRP | stat.S_IWOTH)):
        shutil.rmtree(copy)  # not ours: never run programs others could have put there
    if not copy.exists():
        staging = Path(tempfile.mkdtemp(prefix=copy.name + "-"))
        # The programs find their libraries at $ORIGIN/../../../pgserver.libs: the layout is kept.
        shutil.copytree(installed, staging / "pgserver" / "pginstall", symlinks=True)
        shutil.copytree(installed.parents[1] / "pgserver.libs", staging / "pgserver.libs", symlinks=True)
        staging.chmod(0o755)
        try:
            staging.rename(copy)
        except OSError:  # another process made it meanwhile
            shutil.rmtree(staging)
    return copy / "pgserver" / "pginstall" / "bin"


def _run_as() -> pwd.struct_passwd | None:
    """The account the server runs as: this one (None), or for root ``SERVER_ACCOUNT``, created
    as a system account (no home, no login shell) the first time."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam(SERVER_ACCOUNT)
    except KeyError:
        pass
    command = ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", SERVER_ACCOUNT]
    try:
        done = subprocess.run(command, capture_output=True, text=True)
    except FileNotFoundError:
        done = subprocess.CompletedProcess(command, 127, "", "useradd is not installed")
    try:
        return pwd.getpwnam(SERVER_ACCOUNT)  # made now, by this call or a concurrent one
    except KeyError:
        reason = (done.stderr.strip() or f"status {done.returncode}").splitlines()[-1]
        raise PostgresServiceError(
            f"cannot create the account PostgreSQL runs as, {SERVER_ACCOUNT}: {reason}"
        ) from None


class _RunAs(TypedDict, total=False):
    user: int
    group: int
    extra_groups: list[int]


def _as_account(account: pwd.struct_passwd | None) -> _RunAs:
    """Popen's arguments to run as ``account``: its user and group, and none of root's groups."""
    return {} if account is None else {"user": account.pw_uid, "group": account.pw_gid, "extra_groups": []}


def _hand_over(path: Path, account: pwd.struct_passwd | None) -> None:
    if account is not None:
        os.chown(path, account.pw_uid, account.pw_gid)


def _hand_over_cluster(data_dir: Path, account: pwd.struct_passwd | None) -> None:
    """A cluster another account owns (one made as ``nobody`` before the platform had an account of
    its own) becomes the server account's: PostgreSQL refuses a data folder that is not its user's."""
    if account is None or data_dir.stat().st_uid == account.pw_uid:
        return
    for folder, folders, files in os.walk(data_dir):
        for name in [*folders, *files]:
            os.chown(Path(folder) / name, account.pw_uid, account.pw_gid, follow_symlinks=False)
    _hand_over(data_dir, account)


def _check_reachable(folder: Path, account: pwd.struct_passwd | None) -> None:
    """As root, the server runs as ``account``, which must be able to enter every folder above its data."""
    if account is None:
        return
    closed = _closed_folder(folder)
    if closed is not None:
        raise PostgresServiceError(
            f"PostgreSQL runs as {account.pw_name} (it refuses root), which cannot enter {closed}: "
            f"set ETL_SERVE_HOME to a folder others may enter, or run as another user"
        )


def _write_secret(path: Path, text: str, owner: pwd.struct_passwd | None = None) -> None:
    """Write ``text`` to a new file that is its owner's only from its creation (mode 0600 at open,
    whatever the umask): written first and restricted after, it could be read in between."""
    path.unlink(missing_ok=True)  # O_EXCL: never reuse a file whose mode or owner is not ours
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(descriptor, "w") as out:
        if owner is not None:
            os.fchown(descriptor, owner.pw_uid, owner.pw_gid)
        out.write(text)


def initialise(data_dir: Path) -> str:
    """Create the cluster in ``data_dir`` unless it exists; the password of its ``dagster`` user."""
    password_file = data_dir.parent / f"{data_dir.name}.password"
    account = _run_as()
    if (data_dir / "PG_VERSION").exists():
        _hand_over_cluster(data_dir, account)
        return password_file.read_text().strip()
    _check_reachable(data_dir.parent, account)
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    _hand_over(data_dir, account)
    password = secrets.token_urlsafe(24)
    _write_secret(password_file, password + "\n")
    # initdb reads the password from a file; one it can read, removed as soon as it has.
    handover = data_dir.parent / f".{data_dir.name}.initdb-password"
    _write_secret(handover, password + "\n", owner=account)
    command = [
        str(postgres_bin() / "initdb"),
        *("-D", str(data_dir), "-U", USER, f"--pwfile={handover}"),
        *("--auth=scram-sha-256", "--encoding=UTF8", "--no-instructions"),
    ]
    done = subprocess.run(command, capture_output=True, text=True, **_as_account(account))
    handover.unlink()
    if done.returncode != 0:
        password_file.unlink()
        last = (done.stderr.strip() or done.stdout.strip()).splitlines()[-1:]
        raise PostgresServiceError(f"initdb {data_dir} failed: {' '.join(last)}")
    return password


class LocalPostgres:
    """The server process on ``port`` (loopback only), which a supervisor starts, watches and
    restarts; the cluster and its database survive each restart."""

    def __init__(self, data_dir: Path, port: int) -> None:
        self.data_dir = data_dir
        self.port = port
        self.process: subprocess.Popen | None = None
        self.connection = Connection("127.0.0.1", port, USER, initialise(data_dir), DATABASE)

    def start(self) -> None:
        log = self.log_path.open("a")
        command = [
            str(postgres_bin() / "postgres"),
            *("-D", str(self.data_dir), "-h", "127.0.0.1", "-p", str(self.port)),
            *("-k", ""),  # no Unix socket: its default folder is the system's, often not writable
        ]
        with log:
            self.process = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, **_as_account(_run_as())
            )
        self._wait_until_ready()

    def _wait_until_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while True:
            assert self.process is not None
            if self.process.poll() is not None:
                raise PostgresServiceError(
                    f"PostgreSQL exited with status {self.process.returncode} on start; see {self.log_path}"
                )
            try:
                self.connection.connect("postgres", timeout_seconds=2).close()
                break
            except psycopg2.OperationalError:
                if time.monotonic() > deadline:
                    raise PostgresServiceError(
                        f"PostgreSQL did not accept connections within {START_TIMEOUT_SECONDS} s; see {self.log_path}"
                    ) from None
                time.sleep(0.2)
        self._ensure_database()

    def _ensure_database(self) -> None:
        connection = self.connection.connect("postgres")
        connection.autocommit = True  # CREATE DATABASE cannot run in a transaction
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,))
                if cursor.fetchone() is None:
                    cursor.execute(f'CREATE DATABASE "{DATABASE}"')
        finally:
            connection.close()

    @property
    def log_path(self) -> Path:
        return self.data_dir.parent / f"{self.data_dir.name}.log"

    def stop(self) -> None:
        """A fast shutdown (SIGINT): open sessions end, committed work is on disk."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextmanager
def local_postgres(data_dir: Path, port: int) -> Iterator[LocalPostgres]:
    """A running server for the block, stopped when it ends, however it ends."""
    server = LocalPostgres(data_dir, port)
    try:
        server.start()
        yield server
    finally:
        server.stop()
