"""The checks over the written table (``date_valid``, ``date_gaps``, output row rules) and the
input's row rules, computed with queries, as ``lake_checks`` computes them in Spark: the same
names, flags and metadata keys, up to five examples of failing rows."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from etl_platform.contract.checks import DATE_GAPS, DATE_VALID, CheckPlan, RowCheck
from etl_platform.contract.report import CheckOutcome
from etl_platform.sql_jobs.runner import json_value
from etl_platform.sql_jobs.typed import failing

EXAMPLE_ROWS = 5
DATE = '"date"'
Rows = Callable[[str], list[dict[str, Any]]]


def examples(rows: Rows, query: str) -> list[dict[str, Any]]:
    """The first rows of ``query`` as JSON-able dicts."""
    return [{k: json_value(v) for k, v in row.items()} for row in rows(f"{query} LIMIT {EXAMPLE_ROWS}")]


def row_check_outcomes(
    rows: Rows, relation: str, checks: Sequence[RowCheck], failures: dict[str, int], order: str = ""
) -> list[CheckOutcome]:
    """Outcomes of row rules whose failing counts are known; examples are fetched only on failure."""
    outcomes = []
    for check in checks:
        metadata: dict[str, Any] = {"condition": check.condition, "failing_rows": failures[check.name]}
        if failures[check.name]:
            metadata["examples"] = examples(rows, f"SELECT * FROM {relation} WHERE {failing(check)}{order}")
        outcomes.append(CheckOutcome(check.name, failures[check.name] == 0, check.blocking, metadata))
    return outcomes


def _date_valid(rows: Rows, table: str, plan: CheckPlan, summary: dict[str, Any]) -> CheckOutcome:
    problems = {name: int(summary[name]) for name in ("null_dates", "duplicate_dates", "out_of_range_dates")}
    metadata: dict[str, Any] = {
        **problems,
        "rows": int(summary["rows"]),
        "first_date": json_value(summary["first_date"]),
        "last_date": json_value(summary["last_date"]),
        "allowed_range": [plan.earliest_date, plan.latest_date],
    }
    if any(problems.values()):
        duplicated = f"SELECT {DATE} FROM {table} GROUP BY {DATE} HAVING count(*) > 1"
        metadata["failing_rows"] = sum(problems.values())
        metadata["examples"] = examples(
            rows,
            f"SELECT * FROM {table} WHERE {DATE} IS NULL OR {_out_of_range(plan)} "
            f"UNION ALL SELECT * FROM {table} WHERE {DATE} IN ({duplicated})",
        )
    return CheckOutcome(DATE_VALID.name, not any(problems.values()), DATE_VALID.blocking, metadata)


def _out_of_range(plan: CheckPlan) -> str:
    return f"({DATE} < DATE '{plan.earliest_date}' OR {DATE} > DATE '{plan.latest_date}')"


def date_gap_outcome(rows: Rows, table: str, max_gap_days: int) -> CheckOutcome:
    """Advisory: stretches of more than ``max_gap_days`` days with no row (each date paired with
    the next, NULLs left out)."""
    gaps = (
        f'SELECT "after", "before", date_diff(\'day\', "after", "before") AS days FROM ('
        f'SELECT {DATE} AS "after", lead({DATE}) OVER (ORDER BY {DATE}) AS "before" FROM {table} WHERE {DATE} IS NOT NULL'
        f') AS paired WHERE "before" IS NOT NULL AND date_diff(\'day\', "after", "before") > {int(max_gap_days)}'
    )
    longest = examples(rows, f'{gaps} ORDER BY days DESC, "after"')
    count = int(rows(f"SELECT count(*) AS n FROM ({gaps}) AS g")[0]["n"]) if longest else 0
    return CheckOutcome(
        DATE_GAPS.name,
        passed=count == 0,
        blocking=DATE_GAPS.blocking,
        metadata={"max_gap_days": max_gap_days, "gaps_over_limit": count, "longest_gaps": longest},
    )


def daily_table_outcomes(rows: Rows, table: str, plan: CheckPlan) -> tuple[int, list[CheckOutcome]]:
    """The rows of the written table, and the checks every daily table gets: valid unique dates
    (blocking), date gaps (advisory), the output row rules."""
    checks = plan.rows_on("output")
    (summary,) = rows(
        "SELECT count(*) AS rows, "
        f"count_if({DATE} IS NULL) AS null_dates, count({DATE}) - count(DISTINCT {DATE}) AS duplicate_dates, "
        f"count_if({_out_of_range(plan)}) AS out_of_range_dates, min({DATE}) AS first_date, max({DATE}) AS last_date"
        + "".join(f", count_if({failing(check)}) AS rule_{i}" for i, check in enumerate(checks))
        + f" FROM {table}"
    )
    failures = {check.name: int(summary[f"rule_{i}"]) for i, check in enumerate(checks)}
    return int(summary["rows"]), [
        _date_valid(rows, table, plan, summary),
        date_gap_outcome(rows, table, plan.max_date_gap_days),
        *row_check_outcomes(rows, table, checks, failures),
    ]
