"""The landing file's own checks, from counts an engine computed while reading it: ``raw_schema``
and ``parse_rejects``, worded and flagged the same whether Spark or SQL counted."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from etl_platform.contract.checks import DATE_GAPS, PARSE_REJECTS, RAW_SCHEMA, rejects_block
from etl_platform.contract.report import CheckOutcome


def parse_outcomes(
    input_rows: int, rejected_rows: int, rejected_examples: list[dict[str, Any]], max_share: float
) -> CheckOutcome:
    """Rejected landing rows (a value that does not parse, a wrong field count, bytes that are not
    UTF-8) are missing from the table, so any of them fails the check: a partial table must not
    look like a pass. Within ``max_share`` (the dataset's declared tolerance, 0 unless its source is
    known to be noisy) the failure only warns and the table is published without them; beyond it,
    it blocks. ``rejected_examples`` are the first rejected rows, each with its line and reason."""
    share = rejected_rows / input_rows if input_rows else 0.0
    metadata: dict[str, Any] = {
        "input_rows": input_rows,
        "rejected_rows": rejected_rows,
        "rejected_share": round(share, 6),
        "max_share": max_share,
    }
    if rejected_rows:
        metadata["examples"] = rejected_examples
    return CheckOutcome(
        PARSE_REJECTS.name,
        passed=rejected_rows == 0,
        blocking=rejects_block(input_rows, rejected_rows, max_share),
        metadata=metadata,
    )


def schema_outcome(
    missing: Sequence[str], unexpected: Sequence[str], unparsed: dict[str, int], non_empty: dict[str, int]
) -> CheckOutcome:
    """Blocking: every expected column present, and no typed column whose values never parse."""
    wrong_type = sorted(name for name, bad in unparsed.items() if bad and bad == non_empty.get(name))
    return CheckOutcome(
        RAW_SCHEMA.name,
        passed=not missing and not wrong_type,
        blocking=RAW_SCHEMA.blocking,
        metadata={
            "missing_columns": list(missing),
            "unexpected_columns": list(unexpected),
            "columns_not_parsing": wrong_type,
            "unparsed_values_by_column": {name: bad for name, bad in unparsed.items() if bad},
        },
    )


# Failing rows (or gaps) kept as examples in a check's metadata.
EXAMPLE_ROWS = 5


def duplicate_dates(sorted_dates: Sequence[dt.date]) -> int:
    """Dates beyond the first of each day, in a table's non-NULL dates (sorted)."""
    return sum(1 for before, after in zip(sorted_dates, sorted_dates[1:]) if before == after)


def date_gap_outcome(sorted_dates: Sequence[dt.date], max_gap_days: int) -> CheckOutcome:
    """Advisory: stretches of more than ``max_gap_days`` days with no row, between neighbouring
    days of a table's non-NULL dates (sorted); the longest first, ties by their start."""
    gaps = [
        (after, before, (before - after).days)
        for after, before in zip(sorted_dates, sorted_dates[1:])
        if (before - after).days > max_gap_days
    ]
    longest = sorted(gaps, key=lambda gap: (-gap[2], gap[0]))[:EXAMPLE_ROWS]
    return CheckOutcome(
        DATE_GAPS.name,
        passed=not gaps,
        blocking=DATE_GAPS.blocking,
        metadata={
            "max_gap_days": max_gap_days,
            "gaps_over_limit": len(gaps),
            "longest_gaps": [
                {"after": after.isoformat(), "before": before.isoformat(), "days": days}
                for after, before, days in longest
            ],
        },
    )
