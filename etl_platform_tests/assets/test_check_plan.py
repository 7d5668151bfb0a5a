"""The plan a table's script checks (``--checks``): the registry's rules and the quality settings."""

import json

from etl_platform.assets._shared import check_plan
from etl_platform.checks.settings import QualitySettings
from etl_platform.contract.checks import CheckPlan
from etl_platform.datasets import SALES


def test_the_plan_carries_the_registrys_rules_and_the_thresholds() -> None:
    plan = check_plan(QualitySettings(max_date_gap_days=3), SALES.row_checks)
    sent = json.loads(plan.to_json())
    assert [c["name"] for c in sent["row_checks"]] == [c.name for c in SALES.row_checks]
    assert sent["row_checks"][0] == {
        "name": "non_negative_amounts",
        "on": "input",
        "blocking": True,
        "condition": "`Forecasted Monthly Revenue` >= 0 AND `Weighted Revenue` >= 0",
        "description": "Every opportunity's forecasted and weighted revenue is zero or more.",
    }
    assert sent["max_date_gap_days"] == 3 and sent["earliest_date"] == "1990-01-01"
    assert CheckPlan.from_json(plan.to_json()) == plan


def test_the_plan_allows_no_rejected_rows_unless_the_dataset_declares_a_tolerance(monkeypatch) -> None:
    monkeypatch.setenv("ETL_CHECK_MAX_REJECT_SHARE", "0.05")  # not a setting: it must not loosen anything
    assert check_plan(QualitySettings.from_env(), SALES.row_checks).max_reject_share == 0.0
    assert SALES.max_reject_share == 0.0
    assert check_plan(QualitySettings(), SALES.row_checks, 0.01).max_reject_share == 0.01
