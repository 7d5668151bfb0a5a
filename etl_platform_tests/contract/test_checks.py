"""The checks both sides name the same way, and the plan a script gets (``--checks``)."""

import pytest

from etl_platform.contract.checks import (
    PARSE_REJECTS,
    PROCESSED_CHECKS,
    CheckPlan,
    RowCheck,
    processed_checks,
    rejects_block,
)
from etl_platform.contract.errors import ContractError

RULE = RowCheck("non_negative", "`Amount` >= 0", "Amounts are zero or more.", on="input", blocking=False)


def test_the_plan_a_script_reads_is_the_plan_the_orchestrator_wrote() -> None:
    plan = CheckPlan(row_checks=(RULE,), max_reject_share=0.01, max_date_gap_days=3, latest_date="2027-01-01")
    assert CheckPlan.from_json(plan.to_json()) == plan
    assert plan.rows_on("input") == (RULE,) and plan.rows_on("output") == ()


def test_no_plan_is_the_default_plan_and_a_malformed_one_is_refused_in_one_line() -> None:
    assert CheckPlan.from_json("") == CheckPlan()
    with pytest.raises(ContractError, match="--checks is not a check plan") as refused:
        CheckPlan.from_json('{"row_checks": [{"name": "x"}]}')
    assert "\n" not in str(refused.value)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"on": "rows"}, "on must be 'input' or 'output', got 'rows'"),
        ({"name": "date_valid"}, "the name is a built-in check's"),
        ({"condition": " "}, "the condition is empty"),
    ],
)
def test_row_checks_are_validated(arguments, message) -> None:
    with pytest.raises(ContractError, match=message):
        RowCheck(**{"name": "rule", "condition": "n >= 0", "description": "d", **arguments})


def test_a_tolerated_share_of_rejects_makes_parse_rejects_advisory_and_blocks_only_beyond_it() -> None:
    assert processed_checks(0.0) == PROCESSED_CHECKS
    declared = {check.name: check.blocking for check in processed_checks(0.01)}
    assert declared[PARSE_REJECTS.name] is False and declared["raw_schema"] is True
    assert rejects_block(1000, 0, 0.01)  # a pass blocks nothing, but is reported as blocking
    assert not rejects_block(1000, 10, 0.01)  # exactly at the share: a warning
    assert rejects_block(1000, 11, 0.01)
