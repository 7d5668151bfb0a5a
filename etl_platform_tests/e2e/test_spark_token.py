"""The Spark Connect token lets whoever holds it run code on the server, as the server's account. A
whole run on a server whose token is given in its URL stores it nowhere: not in the instance (event
log, run and job snapshots, compute logs), nor in the code location's snapshot that the UI shows;
and other accounts can read nothing of the instance."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from dagster._core.remote_representation.external_data import RepositorySnap
from dagster_shared.serdes import serialize_value

from etl_platform.definitions import build_definitions
from etl_platform.spark_connect import TOKEN_VARIABLE, address, split_token

pytestmark = pytest.mark.e2e
BIN = Path(sys.executable).parent


def _with_token_in_url(monkeypatch: pytest.MonkeyPatch) -> str:
    """The test process's server, named by a URL carrying its token (as a user may set it), the token
    in no other variable; the token."""
    server, token = split_token(os.environ["ETL_SPARK_REMOTE"])
    token = token or os.environ[TOKEN_VARIABLE]
    monkeypatch.setenv("ETL_SPARK_REMOTE", f"{server}/;token={token}")
    monkeypatch.delenv(TOKEN_VARIABLE, raising=False)
    monkeypatch.delenv("ETL_PLATFORM_ENV", raising=False)
    return token


def _readable_by_others(path: Path, home: Path) -> bool:
    """Another account could read ``path``: it may pass through every folder from ``home`` down and read it."""
    folders = [home, *reversed([p for p in path.parents if p.is_relative_to(home) and p != home])]
    passable = all(folder.stat().st_mode & stat.S_IXOTH for folder in folders)
    return passable and bool(path.lstat().st_mode & stat.S_IROTH)


def test_a_whole_run_stores_the_token_nowhere_and_the_instance_is_private(tmp_path, monkeypatch) -> None:
    token = _with_token_in_url(monkeypatch)
    home = tmp_path / "home"
    env = {**os.environ, "DAGSTER_HOME": str(home), "ETL_LAKE_ROOT": str(tmp_path / "lake")}
    demo = subprocess.run(
        [str(BIN / "etl-platform"), "demo"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600
    )
    assert demo.returncode == 0, demo.stderr[-3000:]  # the scripts got the token: the server let them in
    assert token not in demo.stdout + demo.stderr

    files = [path for path in home.rglob("*") if path.is_file()]
    assert any(path.parent.name == "runs" and path.suffix == ".db" for path in files)  # the run's event log
    assert [path for path in files if token.encode() in path.read_bytes()] == []

    assert stat.S_IMODE(home.stat().st_mode) & 0o077 in (0, 0o011)  # others may at most pass through
    assert [path for path in home.rglob("*") if _readable_by_others(path, home)] == []


@pytest.mark.filterwarnings("ignore:Property `ScheduleDefinition.environment_vars` is deprecated")
def test_the_code_location_snapshot_has_no_token(monkeypatch) -> None:
    """What the code server sends the webserver and the daemon: resources' config among the rest."""
    token = _with_token_in_url(monkeypatch)
    repository = build_definitions().get_repository_def()
    snapshot = serialize_value(RepositorySnap.from_def(repository))
    assert address(os.environ["ETL_SPARK_REMOTE"]) in snapshot  # the address is there, for the UI
    assert token not in snapshot
