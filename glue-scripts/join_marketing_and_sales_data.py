"""Every processed daily dataset -> ``sales_marketing_daily``: inner join on ``date``, ascending.

The inputs come from the dataset registry as one job argument, so a third dataset joins in with
no change here.
"""

from collections.abc import Mapping, Sequence
from functools import partial, reduce

import lake_builds
import lake_job
from pyspark.sql import DataFrame

from etl_platform.contract.report import ColumnSource


def join_daily(tables: Mapping[str, DataFrame]) -> DataFrame:
    """Inner join on ``date`` (kept once), sorted by the DATE value rather than its text."""
    if not tables:
        raise lake_job.LakeJobError("nothing to join: no input tables given")
    seen: dict[str, str] = {}
    for table, frame in tables.items():
        if "date" not in frame.columns:
            raise lake_job.LakeJobError(f"input table {table} has no 'date' column: {frame.columns}")
        for column in frame.columns:
            if column != "date" and column in seen:
                raise lake_job.LakeJobError(f"column {column!r} is in both {seen[column]} and {table}")
            seen[column] = table
    joined = reduce(lambda left, right: left.join(right, on="date", how="inner"), tables.values())
    return joined.orderBy("date")


def column_lineage(tables: Mapping[str, DataFrame]) -> dict[str, tuple[ColumnSource, ...]]:
    """Each output column from the input table(s) it comes from (``date`` from all of them)."""
    lineage = {"date": tuple(ColumnSource(table, "date") for table in tables)}
    for table, frame in tables.items():
        lineage.update({column: (ColumnSource(table, column),) for column in frame.columns if column != "date"})
    return lineage


def main(argv: Sequence[str] | None = None) -> None:
    lake_job.run_job(partial(lake_builds.join_tables, join=join_daily, lineage=column_lineage), argv)


if __name__ == "__main__":
    main()
