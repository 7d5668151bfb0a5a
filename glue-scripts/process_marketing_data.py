"""Marketing engagement export (one row per day) -> ``marketing_daily`` with normalised column names."""

from collections.abc import Sequence
from functools import partial

import lake_builds
import lake_job
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from etl_platform.contract.columns import normalize_column_name, quote_identifier


def daily_marketing(metrics: DataFrame) -> DataFrame:
    """Keep every column, renamed to ``snake_case`` (``Mailing list adds `` -> ``mailing_list_adds``).

    Types (``date`` as DATE, metrics as BIGINT, ``events`` as a nullable string) were applied from
    the registry when the file was read.
    """
    renamed = [F.col(quote_identifier(name)).alias(normalize_column_name(name)) for name in metrics.columns]
    # Sorted in one partition (a daily table is small), not by a global sort: that reads its input
    # once more first, to sample it, and on Spark 3.5 (Glue 5, EMR Serverless 7) the figures observed
    # while typing the file are then counted twice (SPARK-37487).
    return metrics.select(*renamed).repartition(1).sortWithinPartitions("date")


def main(argv: Sequence[str] | None = None) -> None:
    lake_job.run_job(partial(lake_builds.process_landing_file, transform=daily_marketing), argv)


if __name__ == "__main__":
    main()
