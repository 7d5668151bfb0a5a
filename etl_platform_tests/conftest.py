"""Shared fixtures: one local Spark session per test process, lakes in temp folders, the real samples."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from etl_platform.project import GLUE_SCRIPTS_DIR, PROJECT_ROOT
from etl_platform_tests.helpers import QUICKSIGHT_MARKETING, QUICKSIGHT_SALES

# A failing test should fail at once, not after the production retry back-off (15 s, 30 s, 60 s).
os.environ.setdefault("ETL_SPARK_RETRY_DELAY_SECONDS", "0")

# The Glue scripts are plain modules (as on Glue); tests import their transforms directly.
sys.path.insert(0, str(GLUE_SCRIPTS_DIR))

QUICKSIGHT_DIR = Path(os.environ.get("QUICKSIGHT_SAMPLES_DIR") or PROJECT_ROOT.parent / "shared" / "quicksight-samples")


@pytest.fixture(scope="session")
def spark() -> Iterator[object]:
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    from pyspark.sql import SparkSession

    session = (
        SparkSession.builder.master("local[2]")
        .appName("etl_platform_tests")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.sql.constraintPropagation.enabled", "false")
        .config("spark.log.level", "ERROR")
        .getOrCreate()
    )
    yield session
    session.stop()


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
