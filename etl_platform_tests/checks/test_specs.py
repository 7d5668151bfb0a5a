"""The contract's checks as Dagster check specs: names and blocking flags as declared once."""

from etl_platform.checks.settings import QualitySettings
from etl_platform.checks.specs import check_specs
from etl_platform.contract.checks import JOINED_CHECKS, PROCESSED_CHECKS, processed_checks
from etl_platform.datasets import SALES


def test_specs_come_from_the_contract_and_the_registry() -> None:
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
    assert specs["non_negative_amounts"].description == (
        "Every opportunity's forecasted and weighted revenue is zero or more. "
        "(`` `Forecasted Monthly Revenue` >= 0 AND `Weighted Revenue` >= 0 ``, on the input rows)"
    )


def test_a_tolerated_share_of_rejects_declares_parse_rejects_advisory() -> None:
    specs = {spec.name: spec.blocking for spec in check_specs("t", processed_checks(0.01), ())}
    assert specs["parse_rejects"] is False and specs["raw_schema"] is True


def test_joined_table_checks() -> None:
    specs = {spec.name: spec.blocking for spec in check_specs("sales_marketing_daily", JOINED_CHECKS, ())}
    assert specs == {"date_valid": True, "join_coverage": True, "date_gaps": False, "row_count_change": False}


def test_thresholds_from_environment(monkeypatch) -> None:
    monkeypatch.setenv("ETL_CHECK_MAX_ROW_COUNT_CHANGE", "0.2")
    monkeypatch.setenv("ETL_CHECK_MAX_DATE_GAP_DAYS", "2")
    settings = QualitySettings.from_env()
    assert (settings.max_row_count_change, settings.max_date_gap_days) == (0.2, 2)
