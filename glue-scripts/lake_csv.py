"""Reading a landing CSV with Spark, every column as a string. Vetting the file and finding the
line a record starts on are the contract's (``etl_platform.contract.landing``), shared with the
SQL engine."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.types import BooleanType, DataType, DateType, DoubleType, LongType, StringType, StructField, StructType

from etl_platform.contract.columns import SPARK_TYPES
from etl_platform.contract.landing import CORRUPT_RECORD, read_head, read_header

# Spark's types by their SQL names, which the contract maps the registry's types to (SPARK_TYPES).
SQL_TYPES: dict[str, DataType] = {
    t.simpleString().upper(): t for t in (StringType(), LongType(), DoubleType(), BooleanType(), DateType())
}


def read_landing_csv(
    spark: SparkSession,
    path: str,
    multiline: bool = False,
    header: Sequence[str] | None = None,
    types: Mapping[str, str] | None = None,
    date_format: str | None = None,
) -> DataFrame:
    """Every column as a string, named from the header (vetted by ``read_header``, or ``header``
    if the caller read it already): no inference pass. With ``types`` (header name -> registry
    type), the reader types those columns itself (dates in ``date_format``), and a record with a
    value it cannot type keeps its text in ``_corrupt_record`` too.

    Rows with more or fewer fields than the header keep their text in ``_corrupt_record``.
    ``multiline`` reads quoted values spanning lines, at the cost of parsing the file in one task.
    """
    if header is None:
        header = read_header(read_head(path), path)
    types = types or {}
    fields = [StructField(name, SQL_TYPES[SPARK_TYPES[types.get(name, "string")]]) for name in header]
    options = {"dateFormat": date_format} if date_format else {}
    return (
        spark.read.schema(StructType([*fields, StructField(CORRUPT_RECORD, StringType())]))
        .options(**options)
        .csv(
            path,
            header=True,
            escape='"',
            multiLine=multiline,
            mode="PERMISSIVE",
            columnNameOfCorruptRecord=CORRUPT_RECORD,
        )
    )
