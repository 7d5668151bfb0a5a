"""Which checks a table gets and how they judge it: the built-in checks, the registry's row rules,
and the plan a script evaluates (the ``--checks`` job argument), written and read by one class."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace

from etl_platform.contract.errors import ContractError


@dataclass(frozen=True)
class BuiltinCheck:
    """A check every table of a kind gets. A failed blocking check refuses the build."""

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
    "No landing row was rejected (a value that does not parse, a wrong field count, bytes that are not UTF-8); "
    "rejected rows are listed with their line and reason. A dataset that tolerates some (`max_reject_share` in "
    "the registry) warns within that share and is published without them.",
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
BUILTIN_NAMES = frozenset(check.name for check in (*PROCESSED_CHECKS, *JOINED_CHECKS))


def processed_checks(max_reject_share: float) -> tuple[BuiltinCheck, ...]:
    """The built-in checks of an input's table. Where the dataset tolerates rejected rows,
    ``parse_rejects`` is declared advisory: within the share it only warns, and Dagster's
    blocking-check automation counts any failed blocking check, warnings included, so it would
    hold the join barrier over a table that was published. Beyond the share the file is still
    refused (``rejects_block``): the publish gate reads each result's severity, not the declaration."""
    if max_reject_share == 0:
        return PROCESSED_CHECKS
    return tuple(replace(c, blocking=False) if c == PARSE_REJECTS else c for c in PROCESSED_CHECKS)


def rejects_block(input_rows: int, rejected_rows: int, max_share: float) -> bool:
    """Whether ``parse_rejects`` blocks: it does when it passes (nothing rejected) and when more
    than the dataset's tolerated share of rows was rejected; within the share it only warns."""
    share = rejected_rows / input_rows if input_rows else 0.0
    return rejected_rows == 0 or share > max_share


ROW_CHECK_STAGES = ("input", "output")


@dataclass(frozen=True)
class RowCheck:
    """A rule every row must satisfy, as a Spark SQL condition (NULL counts as satisfied).

    ``on="input"`` evaluates it on the typed landing rows (raw column names, backquoted),
    ``on="output"`` on the built table. Blocking checks stop downstream builds when they fail.
    """

    name: str
    condition: str
    description: str
    on: str = "output"
    blocking: bool = True

    def __post_init__(self) -> None:
        if self.on not in ROW_CHECK_STAGES:
            raise ContractError(f"row check {self.name}: on must be 'input' or 'output', got {self.on!r}")
        if self.name in BUILTIN_NAMES:
            raise ContractError(f"row check {self.name}: the name is a built-in check's")
        if not self.condition.strip():
            raise ContractError(f"row check {self.name}: the condition is empty")


@dataclass(frozen=True)
class CheckPlan:
    """What a script checks: the row rules and the thresholds, sent as one JSON job argument."""

    row_checks: tuple[RowCheck, ...] = ()
    max_reject_share: float = 0.0
    max_date_gap_days: int = 7
    earliest_date: str = "1990-01-01"
    latest_date: str = "2100-01-01"

    def rows_on(self, stage: str) -> tuple[RowCheck, ...]:
        return tuple(check for check in self.row_checks if check.on == stage)

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> CheckPlan:
        """The plan in ``text``; an empty text is the default plan (no row rules)."""
        if not text:
            return cls()
        try:
            data = dict(json.loads(text))
            row_checks = tuple(RowCheck(**check) for check in data.pop("row_checks", ()))
            return cls(row_checks=row_checks, **data)
        except (ValueError, TypeError) as error:
            raise ContractError(f"--checks is not a check plan: {error}") from None
