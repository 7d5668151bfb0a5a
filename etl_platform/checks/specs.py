"""Which checks each table has: built-in ones for every daily table plus the registry's row rules.

The same declaration produces the Dagster ``AssetCheckSpec``s and the ``--checks`` plan the Spark
script evaluates, so the two cannot drift apart.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace

import dagster as dg

from etl_platform.checks.settings import QualitySettings
from etl_platform.datasets import RowCheck


@dataclass(frozen=True)
class BuiltinCheck:
    name: str
    blocking: bool
    description: str


RAW_SCHEMA = BuiltinCheck(
    "raw_schema",
    True,
    "Every expected column is present (after trim and case fold) and its values parse as the declared type.",
)
PARSE_REJECTS = BuiltinCheck(
    "parse_rejects",
    True,
    "No landing row was rejected (a value that does not parse, a wrong field count, bytes that are not UTF-8); rejected rows are listed with their line and reason. A dataset that tolerates some (`max_reject_share` in the registry) warns within that share and is published without them.",
)
DATE_VALID = BuiltinCheck(
    "date_valid", True, "`date` is never NULL, is unique, and lies between 1990-01-01 and a year from today."
)
DATE_GAPS = BuiltinCheck("date_gaps", False, "No stretch of days without a row is longer than the threshold.")
ROW_COUNT_CHANGE = BuiltinCheck(
    "row_count_change", False, "The row count did not change by more than the threshold versus the previous build."
)
JOIN_COVERAGE = BuiltinCheck(
    "join_coverage", True, "One row per date present in every input, stored ascending by date."
)

PROCESSED_CHECKS = (RAW_SCHEMA, PARSE_REJECTS, DATE_VALID, DATE_GAPS, ROW_COUNT_CHANGE)
JOINED_CHECKS = (DATE_VALID, JOIN_COVERAGE, DATE_GAPS, ROW_COUNT_CHANGE)


def processed_checks(max_reject_share: float) -> tuple[BuiltinCheck, ...]:
    """The built-in checks of an input's table. Where the dataset tolerates rejected rows,
    ``parse_rejects`` is advisory to Dagster: within the share it only warns, and Dagster's
    blocking-check automation counts any failed blocking check, warnings included, so it would
    hold the join barrier over a table that was published. Beyond the share the file is still
    refused: the publish gate reads each result's severity, not the spec."""
    if max_reject_share == 0:
        return PROCESSED_CHECKS
    return tuple(replace(c, blocking=False) if c == PARSE_REJECTS else c for c in PROCESSED_CHECKS)


def check_specs(asset: str, builtin: Sequence[BuiltinCheck], row_checks: Sequence[RowCheck]) -> list[dg.AssetCheckSpec]:
    specs = [dg.AssetCheckSpec(c.name, asset=asset, blocking=c.blocking, description=c.description) for c in builtin]
    specs += [
        dg.AssetCheckSpec(
            c.name,
            asset=asset,
            blocking=c.blocking,
            description=f"{c.description} (`{c.condition}`, on the {c.on} rows)",
        )
        for c in row_checks
    ]
    return specs


def check_plan(row_checks: Sequence[RowCheck], settings: QualitySettings, max_reject_share: float = 0.0) -> str:
    """The ``--checks`` job argument for the Spark scripts (see ``glue-scripts/lake_checks.py``);
    ``max_reject_share`` is the input dataset's tolerance of rejected rows (``InputDataset``)."""
    return json.dumps(
        {
            "row_checks": [{k: v for k, v in asdict(c).items() if k != "description"} for c in row_checks],
            "max_reject_share": max_reject_share,
            "max_date_gap_days": settings.max_date_gap_days,
            "earliest_date": settings.earliest_date.isoformat(),
            "latest_date": settings.latest_date().isoformat(),
        }
    )
