"""Data-quality checks computed where the data is (Spark on Glue or locally), reported through Pipes.

Every check returns the contract's ``CheckOutcome``, named and flagged as the contract declares it;
the scripts report them after the build. Failing rows are counted and up to five examples are
kept, so a failed check says which rows and why.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from typing import Any

from pyspark.serializers import CPickleSerializer
from pyspark.sql import Column, DataFrame, Observation, Window
from pyspark.sql import functions as F

from etl_platform.contract.checks import DATE_VALID, JOIN_COVERAGE, CheckPlan, RowCheck
from etl_platform.contract.outcomes import EXAMPLE_ROWS, date_gap_outcome, duplicate_dates
from etl_platform.contract.report import CheckOutcome


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
    frame: Callable[[], DataFrame], checks: Sequence[RowCheck], failing_counts: dict[str, int]
) -> list[CheckOutcome]:
    """Outcomes of row rules whose failing counts are known; examples are fetched (from ``frame()``)
    only on failure."""
    outcomes = []
    for check in checks:
        failures = failing_counts[check.name]
        metadata: dict[str, Any] = {"condition": check.condition, "failing_rows": failures}
        if failures:
            metadata["examples"] = examples(frame().where(failing(check)))
        outcomes.append(CheckOutcome(check.name, failures == 0, check.blocking, metadata))
    return outcomes


class DailyAudit:
    """The checks every daily table gets: valid unique dates (blocking), date gaps (advisory), the
    output row rules. What they need is observed in the pass that writes the table (``observe``),
    so the table is read back only when a check fails and wants example rows.

    The dates are gathered in one sorted array: a daily table has a row per day, so it stays small.
    """

    def __init__(self, plan: CheckPlan):
        self.plan = plan
        self.row_checks = plan.rows_on("output")
        self.observation = Observation("daily_audit")

    def _out_of_range(self) -> Column:
        date = F.col("date")
        return (date < F.lit(self.plan.earliest_date).cast("date")) | (date > F.lit(self.plan.latest_date).cast("date"))

    def metrics(self) -> list[Column]:
        date = F.col("date")
        return [
            F.count(F.lit(1)).alias("rows"),
            F.count(F.when(date.isNull(), 1)).alias("null_dates"),
            F.count(F.when(self._out_of_range(), 1)).alias("out_of_range_dates"),
            F.sort_array(F.collect_list(date)).alias("dates"),  # collect_list leaves NULLs out
            *[F.count(F.when(failing(check), 1)).alias(f"rule_{i}") for i, check in enumerate(self.row_checks)],
        ]

    def observe(self, frame: DataFrame) -> DataFrame:
        """``frame``, its audit measured by whatever action runs it next (the write)."""
        return frame.observe(self.observation, *self.metrics())

    def outcomes(self, written: Callable[[], DataFrame]) -> tuple[int, list[CheckOutcome]]:
        """The table's rows and the outcomes, from the observation; ``written`` (the table as
        stored) is read for examples of failing rows, and for the figures themselves when the
        observation came back empty (Spark may drop an observed node no row reached)."""
        summary = observed(self.observation) or written().agg(*self.metrics()).first().asDict()  # type: ignore[union-attr]
        dates = summary["dates"] or []
        problems = {
            "null_dates": int(summary["null_dates"]),
            "duplicate_dates": duplicate_dates(dates),
            "out_of_range_dates": int(summary["out_of_range_dates"]),
        }
        date_metadata: dict[str, Any] = {
            **problems,
            "rows": int(summary["rows"]),
            "first_date": dates[0].isoformat() if dates else None,
            "last_date": dates[-1].isoformat() if dates else None,
            "allowed_range": [self.plan.earliest_date, self.plan.latest_date],
        }
        if any(problems.values()):
            table, date = written(), F.col("date")
            duplicated = table.groupBy("date").count().where("count > 1").select("date")
            bad = table.where(date.isNull() | self._out_of_range()).unionByName(
                table.join(duplicated, "date").select(table.columns)
            )
            date_metadata["failing_rows"] = sum(problems.values())
            date_metadata["examples"] = examples(bad)
        failures = {check.name: int(summary[f"rule_{i}"]) for i, check in enumerate(self.row_checks)}
        return int(summary["rows"]), [
            CheckOutcome(DATE_VALID.name, not any(problems.values()), DATE_VALID.blocking, date_metadata),
            date_gap_outcome(dates, self.plan.max_date_gap_days),
            *row_check_outcomes(written, self.row_checks, failures),
        ]


def observed(observation: Observation) -> dict[str, Any]:
    """An observation's values after its action, as Python values; empty when Spark reported none
    (classic Spark raises then, Spark Connect returns nothing)."""
    try:
        return _python_values(observation)
    except Exception:
        return {}


def _python_values(observation: Observation) -> dict[str, Any]:
    """Classic Spark 3.5's ``Observation.get`` (Glue 5, EMR Serverless 7) hands back the JVM's values
    as they are: an array is a py4j object, not a list. Spark 4's own ``get`` converts them by
    pickling the JVM's row to Python; that is done here on both (Spark Connect's values are Python's)."""
    jvm_observation = getattr(observation, "_jo", None)
    if jvm_observation is None:
        return dict(observation.get)
    utils = getattr(observation._jvm, "org.apache.spark.sql.api.python.PythonSQLUtils")
    row = CPickleSerializer().loads(utils.toPyRow(jvm_observation.getRow()))
    return row.asDict(recursive=False)


def daily_table_outcomes(table: DataFrame, plan: CheckPlan) -> list[CheckOutcome]:
    """The daily checks of a table already stored (a pass of their own)."""
    return DailyAudit(plan).outcomes(lambda: table)[1]


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
