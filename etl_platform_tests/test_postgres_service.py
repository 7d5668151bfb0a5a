"""The production mode's own PostgreSQL: a real server from the pgserver wheel, created once and
reused, and refusing with one line where it cannot run."""

from __future__ import annotations

import importlib.metadata
import os
import shutil
import tempfile

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
        f"PostgreSQL runs as nobody (it refuses root), which cannot enter {closed}: "
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
