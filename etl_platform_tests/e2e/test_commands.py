"""The commands a newcomer types: `etl-platform demo`, then `dagster asset materialize` from the root."""

import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from etl_platform.project import PROJECT_ROOT

pytestmark = pytest.mark.e2e
BIN = Path(sys.executable).parent


def _run(argv: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(argv, cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=600)


def test_demo_then_materialize_from_the_project_root(tmp_path) -> None:
    home = tmp_path / "dagster_home"
    env = {**os.environ, "ETL_LAKE_ROOT": str(tmp_path / "lake"), "DAGSTER_HOME": str(home)}
    env.pop("ETL_PLATFORM_ENV", None)

    demo = _run([str(BIN / "etl-platform"), "demo"], env)
    assert demo.returncode == 0, demo.stderr[-3000:]
    lines = {line.split()[0]: line for line in demo.stdout.splitlines() if " rows " in line}
    assert set(lines) == {"sales_daily", "marketing_daily", "sales_marketing_daily", "engagement_revenue_correlation"}
    assert "731 rows" in lines["sales_marketing_daily"] and "dagster dev" in demo.stdout
    assert "68 rows" in lines["engagement_revenue_correlation"]

    report = _run([str(BIN / "etl-platform"), "report", "--top", "3"], env)
    assert report.returncode == 0, report.stderr[-3000:]
    strongest = [cell.strip() for cell in report.stdout.splitlines()[2].split("|")]
    assert strongest[:2] == ["website_pageviews", "opportunities"] and "(3 rows)" in report.stdout
    assert report.stdout.count("/_charts/") == 2 and ".png" in report.stdout

    materialize = _run([str(BIN / "dagster"), "asset", "materialize", "-m", "etl_platform.definitions", "--select", "*"], env)
    assert materialize.returncode == 0, materialize.stderr[-3000:]

    with dg.DagsterInstance.from_config(str(home)) as instance:
        runs = instance.get_runs()
        assert len(runs) == 2 and all(run.is_success for run in runs)
        event = instance.get_latest_materialization_event(dg.AssetKey("sales_marketing_daily"))
        assert event.run_id == runs[0].run_id
