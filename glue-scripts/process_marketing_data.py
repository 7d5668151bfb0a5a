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
    return metrics.select(*renamed).orderBy("date")


def main(argv: Sequence[str] | None = None) -> None:
    lake_job.run_job(partial(lake_builds.process_landing_file, transform=daily_marketing), argv)


if __name__ == "__main__":
    main()
