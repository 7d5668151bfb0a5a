"""One declaration gives Dagster's check specs and the scripts' check plan."""

import json

from etl_platform.checks.settings import QualitySettings
from etl_platform.checks.specs import JOINED_CHECKS, PROCESSED_CHECKS, check_plan, check_specs
from etl_platform.datasets import SALES


def test_specs_and_plan_come_from_the_registry() -> None:
    specs = {spec.name: spec for spec in check_specs("sales_daily", PROCESSED_CHECKS, SALES.row_checks)}
    assert set(specs) == {
        "raw_schema",
        "parse_rejects",
        "date_valid",
        "date_gaps",
        "row_count_change",
        "non_negative_amounts",
        "non_negative_totals",
        "leads_within_opportunities",
    }
    assert {name for name, spec in specs.items() if spec.blocking} == {
        "raw_schema",
        "parse_rejects",
        "date_valid",
        "non_negative_amounts",
        "non_negative_totals",
        "leads_within_opportunities",
    }
    plan = json.loads(check_plan(SALES.row_checks, QualitySettings(max_date_gap_days=3)))
    assert [c["name"] for c in plan["row_checks"]] == [c.name for c in SALES.row_checks]
    assert plan["row_checks"][0] == {
        "name": "non_negative_amounts",
        "on": "input",
        "blocking": True,
        "condition": "`Forecasted Monthly Revenue` >= 0 AND `Weighted Revenue` >= 0",
    }
    assert plan["max_date_gap_days"] == 3 and plan["earliest_date"] == "1990-01-01"


def test_the_plan_allows_no_rejected_rows_unless_the_dataset_declares_a_tolerance(monkeypatch) -> None:
    monkeypatch.setenv("ETL_CHECK_MAX_REJECT_SHARE", "0.05")  # not a setting: it must not loosen anything
    assert json.loads(check_plan(SALES.row_checks, QualitySettings.from_env()))["max_reject_share"] == 0.0
    assert SALES.max_reject_share == 0.0
    assert json.loads(check_plan(SALES.row_checks, QualitySettings(), 0.01))["max_reject_share"] == 0.01


def test_joined_table_checks() -> None:
    specs = {spec.name: spec.blocking for spec in check_specs("sales_marketing_daily", JOINED_CHECKS, ())}
    assert specs == {"date_valid": True, "join_coverage": True, "date_gaps": False, "row_count_change": False}


def test_thresholds_from_environment(monkeypatch) -> None:
    monkeypatch.setenv("ETL_CHECK_MAX_ROW_COUNT_CHANGE", "0.2")
    monkeypatch.setenv("ETL_CHECK_MAX_DATE_GAP_DAYS", "2")
    settings = QualitySettings.from_env()
    assert (settings.max_row_count_change, settings.max_date_gap_days) == (0.2, 2)
