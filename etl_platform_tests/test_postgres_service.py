"""The production mode's own PostgreSQL: a real server from the pgserver wheel, created once and
reused, and refusing with one line where it cannot run."""

from __future__ import annotations

import os

import pytest

from etl_platform.postgres_service import PostgresServiceError, initialise, local_postgres
from etl_platform_tests.helpers import free_port


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
