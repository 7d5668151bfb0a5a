"""Writing a built table: snappy Parquet in the folder the orchestrator staged, and its columns as
the contract reports them."""

from __future__ import annotations

from pyspark.sql import DataFrame, Observation
from pyspark.sql import functions as F

from etl_platform.contract.report import Column


def write_parquet(frame: DataFrame, path: str) -> int:
    """Snappy Parquet replacing the previous output; returns the rows written (observed, one pass).

    No ``coalesce(1)``: the file count follows the last stage's partitions, which adaptive
    execution sizes to the data (see ``lake_job.spark_session``).
    """
    written = Observation("written")
    frame.observe(written, F.count(F.lit(1)).alias("rows")).write.mode("overwrite").option(
        "compression", "snappy"
    ).parquet(path)
    return int(written.get.get("rows") or 0)


def table_columns(frame: DataFrame) -> tuple[Column, ...]:
    """The frame's columns: name, Spark's type name, nullable."""
    return tuple(Column(f.name, f.dataType.simpleString(), f.nullable) for f in frame.schema.fields)
