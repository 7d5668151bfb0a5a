"""Sales pipeline export (one row per opportunity) -> ``sales_daily`` (one row per calendar date)."""

from collections.abc import Sequence
from functools import partial

import lake_builds
import lake_job
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

LEAD_STAGE = "Lead"


def daily_sales(opportunities: DataFrame) -> DataFrame:
    """Aggregate typed opportunities per day.

    ``forecasted_lead_revenue`` sums the forecast over the day's ``Lead`` rows only, and is 0 (not
    NULL) on a day without leads so that downstream sums and correlations need no special case.
    """
    is_lead = F.trim(F.col("Opportunity Stage")) == LEAD_STAGE
    forecast = F.col("Forecasted Monthly Revenue")
    return (
        opportunities.groupBy(F.col("Date").alias("date"))
        .agg(
            F.count(F.lit(1)).alias("opportunities"),
            F.sum(forecast).cast("bigint").alias("forecasted_monthly_revenue"),
            F.sum("Weighted Revenue").cast("bigint").alias("weighted_revenue"),
            F.count(F.when(is_lead, F.lit(1))).alias("leads_generated"),
            F.coalesce(F.sum(F.when(is_lead, forecast)), F.lit(0)).cast("bigint").alias("forecasted_lead_revenue"),
        )
        .orderBy("date")
    )


def main(argv: Sequence[str] | None = None) -> None:
    lake_job.run_job(partial(lake_builds.process_landing_file, transform=daily_sales), argv)


if __name__ == "__main__":
    main()
