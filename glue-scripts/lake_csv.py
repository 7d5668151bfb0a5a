"""Reading a landing CSV with Spark, every column as a string. Vetting the file and finding the
line a record starts on are the contract's (``etl_platform.contract.landing``), shared with the
SQL engine."""

from __future__ import annotations

from collections.abc import Sequence

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.types import StringType, StructField, StructType

from etl_platform.contract.landing import CORRUPT_RECORD, read_head, read_header


def read_landing_csv(
    spark: SparkSession, path: str, multiline: bool = False, header: Sequence[str] | None = None
) -> DataFrame:
    """Every column as a string, named from the header (vetted by ``read_header``, or ``header``
    if the caller read it already): no inference pass.

    Rows with more or fewer fields than the header keep their text in ``_corrupt_record``.
    ``multiline`` reads quoted values spanning lines, at the cost of parsing the file in one task.
    """
    if header is None:
        header = read_header(read_head(path), path)
    schema = StructType([StructField(name, StringType()) for name in [*header, CORRUPT_RECORD]])
    return spark.read.schema(schema).csv(
        path, header=True, escape='"', multiLine=multiline, mode="PERMISSIVE", columnNameOfCorruptRecord=CORRUPT_RECORD
    )
