"""`etl-platform report`: the strongest relationships as a table and where the charts are."""

from __future__ import annotations

from dataclasses import replace

import dagster as dg
import numpy as np
import pytest

from etl_platform import cli
from etl_platform.datasets import REGISTRY
from etl_platform.definitions import build_definitions
from etl_platform.insight.report import ReportNotBuiltError, top_correlations
from etl_platform.resources import DuckDBEngine
from etl_platform_tests.assets.fake_runner import RecordingRunner
from etl_platform_tests.helpers import lake_catalog, table_resources
from etl_platform_tests.insight.synthetic import publish_joined, random_days

REPORT_TABLE = REGISTRY.report.table


def test_report_prints_the_strongest_pairs_and_the_chart_paths(lake_root, capsys) -> None:
    columns = random_days(200)
    noise = np.random.default_rng(3).integers(0, 300, 200)
    columns["leads_generated"] = [columns["mobile_uniques"][i - 5] + int(noise[i]) if i >= 5 else 0 for i in range(200)]
    publish_joined(lake_root, columns)
    defs = build_definitions(REGISTRY, table_resources(lake_root, RecordingRunner()))
    with dg.instance_for_test() as instance:
        job = defs.resolve_implicit_global_asset_job_def()
        assert job.execute_in_process(instance=instance, asset_selection=[dg.AssetKey(REPORT_TABLE)]).success

    capsys.readouterr()
    assert cli.main(["report", "--top", "3"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert [cell.strip() for cell in out[0].split("|")] == [
        "engagement_metric",
        "sales_metric",
        "r",
        "lead_days",
        "days",
        "same_day_r",
    ]
    top = [cell.strip() for cell in out[2].split("|")]
    assert top[:2] == ["mobile_uniques", "leads_generated"] and float(top[2]) > 0.9 and top[3] == "5"
    assert "(3 rows)" in out
    # The charts of the current snapshot, kept in its build folder.
    build_folder = str(lake_root / lake_catalog(lake_root).current(REPORT_TABLE).build_key)
    charts = out[out.index("charts:") + 1 :]
    assert len(charts) == 2 and all(
        line.strip().startswith(f"{build_folder}/_charts/") and line.endswith(".png") for line in charts
    )


def test_report_before_the_first_build_is_a_one_line_error(lake_root, capsys) -> None:
    assert cli.main(["report"]) == 1
    err = capsys.readouterr().err
    assert err == f"etl-platform: error: no {REPORT_TABLE} table yet: run etl-platform demo first\n"


def test_the_report_is_looked_up_under_the_name_the_registry_declares(lake_root) -> None:
    catalog = lake_catalog(lake_root)
    renamed = replace(REGISTRY.report, table="visits_vs_revenue")
    with pytest.raises(ReportNotBuiltError, match="^no visits_vs_revenue table yet"):
        top_correlations(DuckDBEngine(catalog=catalog), catalog, 3, renamed)
