"""Data-quality checks computed where the data is (Spark on Glue or locally), reported through Pipes.

Every check returns the contract's ``CheckOutcome``, named and flagged as the contract declares it;
the scripts report them after the build. Failing rows are counted and up to five examples are
kept, so a failed check says which rows and why.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from etl_platform.contract.checks import DATE_GAPS, DATE_VALID, JOIN_COVERAGE, CheckPlan, RowCheck
from etl_platform.contract.report import CheckOutcome

EXAMPLE_ROWS = 5


def failing(check: RowCheck) -> Column:
    """True where the row breaks the rule; NULL (unknown) counts as satisfied."""
    return F.coalesce(~F.expr(check.condition), F.lit(False))


def examples(frame: DataFrame, limit: int = EXAMPLE_ROWS) -> list[dict[str, Any]]:
    """A few rows as JSON-able dicts (dates and numbers as text where JSON would not keep them)."""
    return [
        {k: (v.isoformat() if isinstance(v, (dt.date, dt.datetime)) else v) for k, v in row.asDict().items()}
        for row in frame.limit(limit).collect()
    ]


def row_check_outcomes(
    frame: DataFrame, checks: Sequence[RowCheck], failing_counts: dict[str, int]
) -> list[CheckOutcome]:
    """Outcomes of row rules whose failing counts are known; examples are fetched only on failure."""
    outcomes = []
    for check in checks:
        failures = failing_counts[check.name]
        metadata: dict[str, Any] = {"condition": check.condition, "failing_rows": failures}
        if failures:
            metadata["examples"] = examples(frame.where(failing(check)))
        outcomes.append(CheckOutcome(check.name, failures == 0, check.blocking, metadata))
    return outcomes


def daily_table_outcomes(table: DataFrame, plan: CheckPlan) -> list[CheckOutcome]:
    """Checks every daily table gets: valid unique dates (blocking), date gaps (advisory), row rules."""
    date = F.col("date")
    out_of_range = (date < F.lit(plan.earliest_date).cast("date")) | (date > F.lit(plan.latest_date).cast("date"))
    row_checks = plan.rows_on("output")
    (summary,) = table.agg(
        F.count(F.lit(1)).alias("rows"),
        F.count(F.when(date.isNull(), 1)).alias("null_dates"),
        (F.count(date) - F.countDistinct(date)).alias("duplicate_dates"),
        F.count(F.when(out_of_range, 1)).alias("out_of_range_dates"),
        F.min(date).alias("first_date"),
        F.max(date).alias("last_date"),
        *[F.count(F.when(failing(check), 1)).alias(f"rule_{i}") for i, check in enumerate(row_checks)],
    ).collect()
    problems = {name: int(summary[name]) for name in ("null_dates", "duplicate_dates", "out_of_range_dates")}
    date_metadata: dict[str, Any] = {
        **problems,
        "rows": int(summary["rows"]),
        "first_date": summary["first_date"].isoformat() if summary["first_date"] else None,
        "last_date": summary["last_date"].isoformat() if summary["last_date"] else None,
        "allowed_range": [plan.earliest_date, plan.latest_date],
    }
    if any(problems.values()):
        duplicated = table.groupBy("date").count().where("count > 1").select("date")
        bad = table.where(date.isNull() | out_of_range).unionByName(
            table.join(duplicated, "date").select(table.columns)
        )
        date_metadata["failing_rows"] = sum(problems.values())
        date_metadata["examples"] = examples(bad)
    outcomes = [CheckOutcome(DATE_VALID.name, not any(problems.values()), DATE_VALID.blocking, date_metadata)]
    outcomes.append(date_gap_outcome(table, plan.max_date_gap_days))
    failures = {check.name: int(summary[f"rule_{i}"]) for i, check in enumerate(row_checks)}
    return outcomes + row_check_outcomes(table, row_checks, failures)


def date_gap_outcome(table: DataFrame, max_gap_days: int) -> CheckOutcome:
    """Advisory: stretches of more than ``max_gap_days`` days with no row.

    Each date is paired with the next one in a single sorted array of the column (NULLs left
    out), not through a window ordered over the whole table, which Spark runs in one partition
    and warns about. A daily table has a row per day, so the array stays small.
    """
    dates = F.col("dates")
    neighbours = F.zip_with(
        dates,
        F.slice(dates, 2, F.size(dates)),
        lambda after, before: F.struct(after.alias("after"), before.alias("before")),
    )
    gaps = (
        table.agg(F.sort_array(F.collect_list("date")).alias("dates"))
        .select(F.inline(neighbours))
        .where(F.col("before").isNotNull())  # zip_with pads the shorter array: the last date has no next one
        .select("after", "before", F.datediff("before", "after").alias("days"))
        .where(F.col("days") > max_gap_days)
    )
    longest = examples(gaps.orderBy(F.desc("days"), "after"))
    count = gaps.count() if longest else 0
    return CheckOutcome(
        DATE_GAPS.name,
        passed=count == 0,
        blocking=DATE_GAPS.blocking,
        metadata={"max_gap_days": max_gap_days, "gaps_over_limit": count, "longest_gaps": longest},
    )


def join_coverage_outcome(joined: DataFrame, inputs: dict[str, DataFrame], path_rows: int) -> CheckOutcome:
    """Blocking: one row per date present in every input, stored ascending by date."""
    common = None
    for frame in inputs.values():
        dates = frame.select("date").where(F.col("date").isNotNull()).distinct()
        common = dates if common is None else common.intersect(dates)
    expected = common.count() if common is not None else 0
    ordering = joined.select(
        F.input_file_name().alias("file"), F.monotonically_increasing_id().alias("position"), "date"
    ).withColumn("previous", F.lag("date").over(Window.partitionBy("file").orderBy("position")))
    unsorted_within_files = ordering.where(F.col("previous") > F.col("date")).count()
    spans = (
        ordering.groupBy("file")
        .agg(F.min("date").alias("first"), F.max("date").alias("last"))
        .orderBy("file")
        .collect()
    )
    overlapping_files = sum(
        1
        for a, b in zip(spans, spans[1:])
        if a["last"] is not None and b["first"] is not None and a["last"] > b["first"]
    )
    return CheckOutcome(
        JOIN_COVERAGE.name,
        passed=path_rows == expected and unsorted_within_files == 0 and overlapping_files == 0,
        blocking=JOIN_COVERAGE.blocking,
        metadata={
            "rows": path_rows,
            "dates_in_every_input": expected,
            "rows_out_of_order": unsorted_within_files,
            "files_out_of_order": overlapping_files,
        },
    )
