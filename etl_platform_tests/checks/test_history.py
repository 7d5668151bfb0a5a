"""Row count versus the previous build (advisory)."""

import dagster as dg
import pytest

from etl_platform.checks.history import row_count_change

KEY = dg.AssetKey("sales_daily")


@pytest.mark.parametrize(
    ("previous", "rows", "passed"),
    [
        (None, 100, True),
        (100, 140, True),
        (100, 150, True),
        (100, 151, False),
        (100, 40, False),
        (0, 0, True),
        (0, 5, False),
    ],
)
def test_row_count_change(previous, rows, passed) -> None:
    result = row_count_change(KEY, previous, rows, 0.5)
    assert result.passed is passed
    assert result.severity == dg.AssetCheckSeverity.WARN
    assert result.metadata["rows"].value == rows
