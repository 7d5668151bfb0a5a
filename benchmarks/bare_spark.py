"""The Spark floor: the platform's three transforms as ONE PySpark script in one process.

No orchestrator, no per-step process, no checks: one SparkSession (its start is part of the
measured time), the CSVs read with the registry's types as an explicit schema (Spark's own CSV
parser types the values; no string pass), the transform functions imported unchanged from
``glue-scripts/``, snappy Parquet out. Run as ``python -m benchmarks.bare_spark``.
"""

from __future__ import annotations

import sys
from pathlib import Path

from benchmarks.job_cli import job_main
from benchmarks.schema import typed_header
from etl_platform.contract.columns import SPARK_TYPES, quote_identifier
from etl_platform.datasets import REGISTRY, InputDataset
from etl_platform.project import GLUE_SCRIPTS_DIR
from etl_platform.settings import get_settings

sys.path.insert(0, str(GLUE_SCRIPTS_DIR))

from pyspark.sql import DataFrame, SparkSession  # noqa: E402


def session() -> SparkSession:
    """Configured as the platform's local runner configures its scripts (master, driver memory,
    no UI, adaptive execution, the scripts' parsing settings)."""
    settings = get_settings()
    return (
        SparkSession.builder.master(settings.spark_master)
        .appName("bare_spark_benchmark")
        .config("spark.driver.memory", settings.spark_driver_memory)
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.log.level", "WARN")
        .config("spark.sql.adaptive.enabled", "true")
        .config("spark.sql.constraintPropagation.enabled", "false")
        .config("spark.sql.legacy.timeParserPolicy", "CORRECTED")
        .config("spark.sql.session.timeZone", "UTC")
        .getOrCreate()
    )


def schema_for(path: Path, dataset: InputDataset) -> str:
    """The file's columns with the registry's types, as a Spark DDL schema."""
    return ", ".join(f"{quote_identifier(name)} {SPARK_TYPES[type_]}" for name, type_ in typed_header(path, dataset))


def read_typed(spark: SparkSession, path: Path, dataset: InputDataset) -> DataFrame:
    return spark.read.csv(
        str(path), schema=schema_for(path, dataset), header=True, dateFormat=dataset.date_format, escape='"'
    )


def run(sales: Path, marketing: Path, out: Path) -> None:
    from join_marketing_and_sales_data import join_daily
    from process_marketing_data import daily_marketing
    from process_sales_data import daily_sales

    spark = session()
    by_name = {d.name: d for d in REGISTRY.inputs}
    built = {
        by_name["sales"].output_table: daily_sales(read_typed(spark, sales, by_name["sales"])),
        by_name["marketing"].output_table: daily_marketing(read_typed(spark, marketing, by_name["marketing"])),
    }
    for table, frame in built.items():
        frame.write.mode("overwrite").option("compression", "snappy").parquet(str(out / table))
    tables = {table: spark.read.parquet(str(out / table)) for table in built}
    join_daily(tables).write.mode("overwrite").option("compression", "snappy").parquet(str(out / REGISTRY.joined.name))
    spark.stop()


def main(argv: list[str] | None = None) -> None:
    job_main(run, __doc__.splitlines()[0], argv)


if __name__ == "__main__":
    main()
