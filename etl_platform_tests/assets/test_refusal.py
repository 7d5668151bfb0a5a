"""A refused build names its first rejected row's line, as text and as the failure's `line`."""

import dagster as dg

from etl_platform.assets.refusal import audit_failure
from etl_platform.resources import LakeObject


def _check(name: str, **metadata) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(check_name=name, passed=False, metadata=metadata)


SOURCE = LakeObject(key="landing/sales/week2.csv", size=10, modified=0.0)


def test_rejected_rows_give_the_first_ones_line() -> None:
    rejects = _check("parse_rejects", rejected_rows=3, examples=[{"_line": 7, "_reason": "Date is empty"}])
    reason, line = audit_failure(SOURCE, [rejects, _check("date_valid")])
    assert reason == (
        "landing/sales/week2.csv: blocking checks failed: parse_rejects, date_valid; "
        "3 row(s) rejected, the first at line 7: Date is empty"
    )
    assert line == 7


def test_a_refusal_without_rejected_rows_names_no_line() -> None:
    assert audit_failure(SOURCE, [_check("date_valid")]) == (
        "landing/sales/week2.csv: blocking checks failed: date_valid",
        None,
    )
