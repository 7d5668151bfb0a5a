"""Shared fixtures: one Spark Connect server per test process (classic local Spark on Spark 3.5),
lakes in temp folders, the real samples."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pyspark
import pytest

from etl_platform.project import GLUE_SCRIPTS_DIR, PROJECT_ROOT
from etl_platform.settings import get_settings
from etl_platform.spark_connect import LOCAL_CONF, TOKEN_VARIABLE, split_token
from etl_platform.spark_service import spark_connect_server
from etl_platform_tests import helpers
from etl_platform_tests.helpers import QUICKSIGHT_MARKETING, QUICKSIGHT_SALES

# A failing test should fail at once, not after the production retry back-off (15 s, 30 s, 60 s).
os.environ.setdefault("ETL_SPARK_RETRY_DELAY_SECONDS", "0")
# Every Spark JVM the tests start (the session's servers, the commands' own, Spark of a script's
# own, the fake Glue's) runs seconds of small queries: the JIT's optimising tier (C2) would spend
# more CPU compiling than it ever saves, on two cores shared by two test processes. Its first tier
# alone starts and warms them in about half the CPU; what Spark computes is the same. With that tier
# alone the JVM reserves 48 MB for compiled code, not 240 MB: a test process's server, which
# compiles every query of hundreds of tests, fills it and dies ("CodeCache is full"), so it keeps
# the usual size. (spark-submit passes SPARK_SUBMIT_OPTS to the JVM it starts; children inherit it.)
os.environ.setdefault("SPARK_SUBMIT_OPTS", "-XX:TieredStopAtLevel=1 -XX:ReservedCodeCacheSize=240m")

# The Glue scripts are plain modules (as on Glue); tests import their transforms directly.
sys.path.insert(0, str(GLUE_SCRIPTS_DIR))

QUICKSIGHT_DIR = Path(os.environ.get("QUICKSIGHT_SAMPLES_DIR") or PROJECT_ROOT.parent / "shared" / "quicksight-samples")

SPARK_SERVER = ExitStack()

# The scripts' second environment (`make test`'s run in .venv-spark35): Spark 3.5, as AWS Glue 5 and
# EMR Serverless 7 run a script, classic (a JVM of the process's own, no Connect server): the
# tests' sessions are local ones, and the runner starts a Spark per script (PYSPARK_SUBMIT_ARGS).
CLASSIC_SPARK = int(pyspark.__version__.split(".")[0]) < 4


def pytest_sessionstart(session: pytest.Session) -> None:
    """Every Spark step a test process runs (in e2e tests, `dagster dev`'s runs, the `spark` fixture)
    uses one Spark Connect server, as under `make dev`: started here, before the tests are collected
    (definitions built at import see it), in each process that runs tests (not pytest-xdist's
    controller), and stopped when the session ends. Its token is in the environment, not in the
    address, as the commands that start a server pass it on."""
    config = session.config
    if config.pluginmanager.hasplugin("dsession") or config.option.collectonly or CLASSIC_SPARK:
        return
    settings = get_settings()
    remote = SPARK_SERVER.enter_context(spark_connect_server(settings.spark_master, settings.spark_driver_memory))
    os.environ["ETL_SPARK_REMOTE"], os.environ[TOKEN_VARIABLE] = split_token(remote)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    SPARK_SERVER.close()


def pytest_configure(config: pytest.Config) -> None:
    """Under ``--dist loadfile`` pytest-xdist hands out whole files, by default the files with the
    most tests first: the end-to-end files, one or a few long tests each, came last, and one of them
    could run alone on a worker while the other had nothing left. Files go in the collection's order
    instead, which ``pytest_collection_modifyitems`` sets."""
    if hasattr(config.option, "loadscopereorder"):
        config.option.loadscopereorder = False


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    """Files holding end-to-end tests (the longest, a minute or more each) first, then the others by
    number of tests, most first (xdist's own order): long files start early and short ones fill the
    workers' ends. Tests keep their order within a file."""
    files: dict[str, list[pytest.Item]] = {}
    for item in items:
        files.setdefault(item.nodeid.split("::", 1)[0], []).append(item)

    def slow_first(tests: list[pytest.Item]) -> tuple[bool, int]:
        return (not any(test.get_closest_marker("e2e") for test in tests), -len(tests))

    items[:] = [item for tests in sorted(files.values(), key=slow_first) for item in tests]


@pytest.fixture(scope="session")
def _spark_session() -> Iterator[tuple[object, dict[str, str]]]:
    """One Connect session on the test process's server (a classic local session on Spark 3.5),
    and the variables code needs to get it from getOrCreate()."""
    from pyspark.sql import SparkSession

    settings = {"spark.sql.shuffle.partitions": "2", "spark.sql.constraintPropagation.enabled": "false"}
    if CLASSIC_SPARK:
        # Its Python workers run this interpreter (Spark's default is whichever `python3` is on PATH).
        variables = {"PYSPARK_PYTHON": sys.executable}
        settings |= {
            **LOCAL_CONF,
            "spark.master": "local[2]",
            "spark.driver.memory": get_settings().spark_driver_memory,
        }
    else:
        # Set only while a test uses it (`spark`), so processes other tests start get the Spark they ask for.
        variables = {"SPARK_REMOTE": get_settings().spark_remote, "SPARK_CONNECT_MODE_ENABLED": "1"}
    with pytest.MonkeyPatch.context() as patch:
        for name, value in variables.items():
            patch.setenv(name, value)
        session = SparkSession.builder.config(map=settings).getOrCreate()
    yield session, variables
    session.stop()  # while the server still answers (it stops at the end of the session)


@pytest.fixture
def spark(_spark_session, monkeypatch: pytest.MonkeyPatch) -> object:
    """The Spark the platform runs scripts on here: a Connect session on the test process's server,
    so the transforms are tested over Spark Connect (on Spark 3.5, classic Spark as on Glue); script code calling
    SparkSession.builder.getOrCreate() in this process gets it too."""
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


@pytest.fixture
def fake_aws_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fake credentials in us-east-1 and nothing from the machine's AWS configuration (profiles,
    endpoints, roles), so every client reaches moto."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_CONFIG_FILE": "/nonexistent",
        "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent",
    }.items():
        monkeypatch.setenv(name, value)
    for name in (
        "AWS_PROFILE",
        "AWS_ENDPOINT_URL",
        "AWS_ENDPOINT_URL_CLOUDFORMATION",
        "AWS_ENDPOINT_URL_S3",
        "AWS_ROLE_ARN",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    ):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def open_folder() -> Iterator[Path]:
    """A temporary folder anyone may enter (see ``helpers.open_folder``)."""
    with helpers.open_folder() as folder:
        yield folder
