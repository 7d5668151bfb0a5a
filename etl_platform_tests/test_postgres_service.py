"""The production mode's own PostgreSQL: a real server from the pgserver wheel, created once and
reused, and refusing with one line where it cannot run."""

from __future__ import annotations

import importlib.metadata
import os
import pwd
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from etl_platform import postgres_service
from etl_platform.postgres_service import PostgresServiceError, initialise, local_postgres
from etl_platform.spark_service import free_port


def test_the_cluster_is_created_once_and_its_data_survive_a_restart(open_folder) -> None:
    port = free_port()
    with local_postgres(open_folder / "pg", port) as server:
        connection = server.connection.connect()
        with connection, connection.cursor() as cursor:
            cursor.execute("CREATE TABLE kept (n int); INSERT INTO kept VALUES (7)")
        connection.close()
        first = server.process.pid
    assert (open_folder / "pg.password").stat().st_mode & 0o077 == 0  # the password file is its owner's only
    with local_postgres(open_folder / "pg", port) as server:
        assert server.process.pid != first
        connection = server.connection.connect()
        with connection.cursor() as cursor:
            cursor.execute("SELECT n FROM kept")
            assert cursor.fetchall() == [(7,)]
        connection.close()
    assert server.process is None  # stopped when the block ended


def test_a_wrong_password_is_refused(open_folder) -> None:
    import psycopg2

    with local_postgres(open_folder / "pg", free_port()) as server:
        wrong = server.connection.__class__(**{**server.connection.__dict__, "password": "guess"})
        with pytest.raises(psycopg2.OperationalError, match="password authentication failed"):
            wrong.connect()


@pytest.mark.skipif(os.geteuid() != 0, reason="only root hands the server to another account")
def test_as_root_a_data_folder_the_server_account_cannot_enter_is_refused_in_one_line(tmp_path) -> None:
    closed = tmp_path / "closed"
    closed.mkdir(mode=0o700)
    with pytest.raises(PostgresServiceError) as raised:
        initialise(closed / "pg")
    assert str(raised.value) == (
        f"PostgreSQL runs as {postgres_service.SERVER_ACCOUNT} (it refuses root), which cannot enter {closed}: "
        "set ETL_SERVE_HOME to a folder others may enter, or run as another user"
    )
    assert not (closed / "pg").exists()


@pytest.mark.skipif(os.geteuid() != 0, reason="only root hands the server to another account")
def test_as_root_programs_others_cannot_reach_run_from_a_copy_of_roots_own(tmp_path, open_folder, monkeypatch) -> None:
    installed = postgres_service._installed_programs()
    closed = tmp_path / "venv" / "pgserver" / "pginstall"  # pytest's folders are root's only, as a home folder is
    shutil.copytree(installed, closed, symlinks=True)
    shutil.copytree(installed.parents[1] / "pgserver.libs", tmp_path / "venv" / "pgserver.libs", symlinks=True)
    monkeypatch.setattr(postgres_service, "_installed_programs", lambda: closed)
    monkeypatch.setattr(tempfile, "tempdir", str(open_folder))
    planted = open_folder / f"etl-platform-postgres-{importlib.metadata.version('pgserver')}"
    (planted / "bin").mkdir(parents=True)
    planted.chmod(0o777)  # anyone could have put programs there: not used
    programs = postgres_service.postgres_bin()
    assert programs == planted / "pgserver" / "pginstall" / "bin" and (programs / "postgres").is_file()
    assert planted.stat().st_uid == 0 and planted.stat().st_mode & 0o022 == 0
    with local_postgres(open_folder / "pg", free_port()) as server:
        server.connection.connect().close()


def test_secret_files_are_their_owners_only_from_creation_not_restricted_afterwards(open_folder, monkeypatch) -> None:
    """Under a umask of 0 a file written first and chmod'ed after is readable by anyone in between."""
    restricted: list[str] = []
    chmod = os.chmod

    def recorded_chmod(path, *args, **kwargs) -> None:  # Path.chmod calls os.chmod too
        restricted.append(str(path))
        chmod(path, *args, **kwargs)

    monkeypatch.setattr(os, "chmod", recorded_chmod)
    previous = os.umask(0)
    try:
        initialise(open_folder / "pg")
    finally:
        os.umask(previous)
    assert (open_folder / "pg.password").stat().st_mode & 0o777 == 0o600
    assert not [path for path in restricted if "password" in path]  # created 0600, never chmod'ed to it
    assert not (open_folder / ".pg.initdb-password").exists()


@pytest.fixture
def new_account(monkeypatch) -> Iterator[str]:
    """The server account under a name no account has yet, removed afterwards."""
    name = f"etl_pg_test_{secrets.token_hex(3)}"
    monkeypatch.setattr(postgres_service, "SERVER_ACCOUNT", name)
    try:
        yield name
    finally:
        subprocess.run(["userdel", name], capture_output=True)


@pytest.mark.skipif(os.geteuid() != 0, reason="only root hands the server to another account")
def test_as_root_the_server_runs_as_a_system_account_of_its_own_created_if_missing(open_folder, new_account) -> None:
    with pytest.raises(KeyError):
        pwd.getpwnam(new_account)
    with local_postgres(open_folder / "pg", free_port()) as server:
        account = pwd.getpwnam(new_account)
        assert server.process is not None
        process = psutil.Process(server.process.pid)
        assert process.username() == new_account and set(process.gids()) == {account.pw_gid}
        assert _groups(process.pid) == set()  # none of root's groups
        server.connection.connect().close()
    assert account.pw_uid < 1000 and account.pw_shell == "/usr/sbin/nologin"  # a system account, no login
    assert not Path(account.pw_dir).exists()
    assert (open_folder / "pg").stat().st_uid == account.pw_uid


@pytest.mark.skipif(os.geteuid() != 0, reason="only root hands the server to another account")
def test_as_root_a_cluster_made_as_nobody_is_handed_to_the_servers_account(
    open_folder, new_account, monkeypatch
) -> None:
    with monkeypatch.context() as before:
        before.setattr(postgres_service, "SERVER_ACCOUNT", "nobody")
        password = initialise(open_folder / "pg")
    assert initialise(open_folder / "pg") == password
    uid = pwd.getpwnam(new_account).pw_uid
    assert {path.stat().st_uid for path in [open_folder / "pg", *(open_folder / "pg").rglob("*")]} == {uid}
    with local_postgres(open_folder / "pg", free_port()) as server:
        server.connection.connect().close()


def _groups(pid: int) -> set[int]:
    """The process's supplementary groups, as the kernel reports them."""
    line = next(line for line in Path(f"/proc/{pid}/status").read_text().splitlines() if line.startswith("Groups:"))
    return {int(group) for group in line.split()[1:]}
