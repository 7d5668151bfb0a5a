"""The landing file's own checks, from counts the engine computed: ``raw_schema`` and
``parse_rejects``, worded and flagged as the Spark scripts' (``lake_checks``) are."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from etl_platform.contract.checks import PARSE_REJECTS, RAW_SCHEMA, rejects_block
from etl_platform.contract.report import CheckOutcome


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


def parse_outcome(
    input_rows: int, rejected_rows: int, rejected_examples: list[dict[str, Any]], max_share: float
) -> CheckOutcome:
    """Any rejected row fails the check; within ``max_share`` it only warns (see ``rejects_block``)."""
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
