"""Every processed daily dataset -> ``sales_marketing_daily``: inner join on ``date``, ascending.

The inputs come from the dataset registry as one job argument, so a third dataset joins in with
no change here.
"""

import json
from collections.abc import Mapping, Sequence
from functools import reduce

from pyspark.sql import DataFrame

import lake_job


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


def main(reporter: lake_job.Reporter, argv: Sequence[str]) -> None:
    args = lake_job.parse_job_args(argv, required=["inputs", "output_path"])
    try:
        inputs: dict[str, str] = dict(json.loads(args["inputs"]))
    except (ValueError, TypeError) as error:
        raise lake_job.LakeJobError(f"--inputs must be a JSON object of table name -> path: {error}") from None
    spark = lake_job.spark_session("join_marketing_and_sales_data")
    reporter.info(f"joining {', '.join(inputs)} on date")
    joined = join_daily({name: spark.read.parquet(path) for name, path in inputs.items()})
    rows = lake_job.write_parquet(joined, args["output_path"])
    reporter.table_written(joined, args["output_path"], rows, inputs=inputs)


if __name__ == "__main__":
    lake_job.run_job(main)
