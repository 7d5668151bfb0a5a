"""Every processed daily dataset -> ``sales_marketing_daily``: inner join on ``date``, ascending.

The inputs come from the dataset registry as one job argument, so a third dataset joins in with
no change here.
"""

import json
from collections.abc import Mapping, Sequence
from functools import reduce

import lake_checks
import lake_job
from pyspark.sql import DataFrame


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


def column_lineage(tables: Mapping[str, DataFrame]) -> dict:
    """Each output column from the input table(s) it comes from (``date`` from all of them)."""
    deps: dict[str, list[dict[str, str]]] = {"date": [{"asset_key": table, "column_name": "date"} for table in tables]}
    for table, frame in tables.items():
        for column in frame.columns:
            if column != "date":
                deps[column] = [{"asset_key": table, "column_name": column}]
    return {"raw_value": {"deps_by_column": deps}, "type": "table_column_lineage"}


def main(reporter: lake_job.Reporter, argv: Sequence[str]) -> None:
    """Job arguments: ``--inputs`` (JSON: table name -> the data files of the snapshot to read, or a
    folder), ``--output_path``, ``--checks``."""
    args = lake_job.parse_job_args(argv, required=["inputs", "output_path"], optional={"checks": ""})
    try:
        inputs: dict[str, list[str]] = {
            name: [paths] if isinstance(paths, str) else list(paths)
            for name, paths in dict(json.loads(args["inputs"])).items()
        }
    except (ValueError, TypeError) as error:
        raise lake_job.LakeJobError(f"--inputs must be a JSON object of table name -> file list: {error}") from None
    empty = [name for name, paths in inputs.items() if not paths]
    if empty:
        raise lake_job.LakeJobError(f"input table(s) {', '.join(empty)} have no data files")
    plan = lake_checks.CheckPlan.parse(args["checks"])
    spark = lake_job.spark_session("join_marketing_and_sales_data")
    reporter.info(f"joining {', '.join(inputs)} on date")
    tables = {name: spark.read.parquet(*paths) for name, paths in inputs.items()}
    joined = join_daily(tables)
    output_path = args["output_path"]
    rows = lake_job.write_parquet(joined, output_path)
    written = spark.read.parquet(output_path)
    outcomes = [
        *lake_checks.daily_table_outcomes(written, plan),
        lake_checks.join_coverage_outcome(written, tables, rows),
    ]
    reporter.table_written(
        joined, output_path, rows, inputs=inputs, **{"dagster/column_lineage": column_lineage(tables)}
    )
    for outcome in outcomes:
        reporter.check(outcome)


if __name__ == "__main__":
    lake_job.run_job(main)
