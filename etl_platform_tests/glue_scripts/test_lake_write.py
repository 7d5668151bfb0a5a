"""Writing a built table: snappy Parquet replacing the previous output, and its columns as reported."""

import lake_write
from pyspark.sql import functions as F

from etl_platform.contract.report import Column


def test_table_columns_are_reported_with_sparks_type_names(spark) -> None:
    frame = spark.createDataFrame([(1, "a")], "n bigint, s string").select("n", "s", F.lit(1).alias("one"))
    assert lake_write.table_columns(frame) == (
        Column("n", "bigint", True),
        Column("s", "string", True),
        Column("one", "int", False),
    )


def test_write_parquet_replaces_previous_output_and_counts_rows(spark, tmp_path) -> None:
    out = str(tmp_path / "t")
    assert lake_write.write_parquet(spark.range(5), out) == 5
    assert lake_write.write_parquet(spark.range(3), out) == 3
    assert spark.read.parquet(out).count() == 3
    assert all(p.name.endswith(".snappy.parquet") for p in (tmp_path / "t").glob("part-*"))
