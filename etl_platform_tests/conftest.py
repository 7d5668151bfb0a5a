"""Shared fixtures: one warm Spark server per test session, lakes in temp folders, the real samples."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from etl_platform.environment import local_resources
from etl_platform.project import GLUE_SCRIPTS_DIR, PROJECT_ROOT
from etl_platform.warm_spark import leased_server, stop_server
from etl_platform_tests.helpers import QUICKSIGHT_MARKETING, QUICKSIGHT_SALES

# A failing test should fail at once, not after the production retry back-off (15 s, 30 s, 60 s).
os.environ.setdefault("ETL_SPARK_RETRY_DELAY_SECONDS", "0")

# Every Spark step of the session (runs in e2e tests, `dagster dev`'s runs, the `spark` fixture)
# shares one warm Spark Connect server, kept in a folder of the session's own and stopped at its end.
SPARK_SERVER_DIR = Path(tempfile.mkdtemp(prefix="etl-spark-server-"))
os.environ["ETL_SPARK_SERVER_DIR"] = str(SPARK_SERVER_DIR)
os.environ.setdefault("ETL_SPARK_IDLE_SECONDS", "300")  # if the session is killed, the server soon stops too

# The Glue scripts are plain modules (as on Glue); tests import their transforms directly.
sys.path.insert(0, str(GLUE_SCRIPTS_DIR))

QUICKSIGHT_DIR = Path(os.environ.get("QUICKSIGHT_SAMPLES_DIR") or PROJECT_ROOT.parent / "shared" / "quicksight-samples")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    stop_server(SPARK_SERVER_DIR)
    shutil.rmtree(SPARK_SERVER_DIR, ignore_errors=True)


@pytest.fixture(scope="session")
def _spark_session() -> Iterator[tuple[object, dict[str, str]]]:
    """One session for the test session, and the variables code needs to get it from getOrCreate()."""
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    from pyspark.sql import SparkSession

    runner = local_resources()["spark"]
    settings = {"spark.sql.shuffle.partitions": "2", "spark.sql.constraintPropagation.enabled": "false"}
    if runner.mode == "connect":
        with leased_server(runner.server_settings()) as server:
            # Set only while a test uses it (`spark`), so processes started by other tests get classic Spark.
            variables = {**server.client_environment(), "SPARK_CONNECT_MODE_ENABLED": "1"}
            with pytest.MonkeyPatch.context() as patch:
                for name, value in variables.items():
                    patch.setenv(name, value)
                session = SparkSession.builder.config(map=settings).getOrCreate()
            yield session, variables
            session.stop()  # while the server still answers (it stops at the end of the session)
        return
    builder = SparkSession.builder.master("local[2]").appName("etl_platform_tests")
    ui = {"spark.ui.enabled": "false", "spark.ui.showConsoleProgress": "false", "spark.log.level": "ERROR"}
    session = builder.config(map={**ui, **settings}).getOrCreate()
    yield session, {}
    session.stop()


@pytest.fixture
def spark(_spark_session, monkeypatch: pytest.MonkeyPatch) -> object:
    """The Spark the platform runs scripts on here: a Connect session on the warm server by default
    (so the transforms are tested over Spark Connect; script code calling
    SparkSession.builder.getOrCreate() in this process gets it too), classic local Spark with
    ``ETL_SPARK_MODE=process``."""
    session, variables = _spark_session
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    return session


@pytest.fixture(scope="session")
def quicksight_dir() -> Path:
    """The two public QuickSight files, read in place (never copied into the repo)."""
    missing = [name for name in (QUICKSIGHT_SALES, QUICKSIGHT_MARKETING) if not (QUICKSIGHT_DIR / name).is_file()]
    if missing:
        message = f"QuickSight sample files {missing} not found in {QUICKSIGHT_DIR} (set QUICKSIGHT_SAMPLES_DIR)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    return QUICKSIGHT_DIR


@pytest.fixture
def lake_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh lake folder, also what the environment switch picks up (ETL_LAKE_ROOT)."""
    root = tmp_path / "lake"
    root.mkdir()
    monkeypatch.setenv("ETL_LAKE_ROOT", str(root))
    monkeypatch.delenv("ETL_PLATFORM_ENV", raising=False)
    return root
