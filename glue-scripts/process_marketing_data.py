"""Marketing engagement export (one row per day) -> ``marketing_daily`` with normalised column names."""

import lake_job
from pyspark.sql import DataFrame
from pyspark.sql import functions as F


def daily_marketing(metrics: DataFrame) -> DataFrame:
    """Keep every column, renamed to ``snake_case`` (``Mailing list adds `` -> ``mailing_list_adds``).

    Types (``date`` as DATE, metrics as BIGINT, ``events`` as a nullable string) were applied from
    the registry when the file was read.
    """
    renamed = [F.col(f"`{name}`").alias(lake_job.normalize_column_name(name)) for name in metrics.columns]
    return metrics.select(*renamed).orderBy("date")


if __name__ == "__main__":
    lake_job.run_job(lambda reporter, argv: lake_job.process_landing_file(reporter, argv, daily_marketing))
