"""marketing_daily: every column kept, names normalised, real dates, BIGINT metrics."""

import datetime as dt

import lake_types
from process_marketing_data import daily_marketing

from etl_platform.contract.columns import ExpectedColumn, normalize_column_name
from etl_platform.datasets import MARKETING
from etl_platform_tests.helpers import MARKETING_HEADER, marketing_row


def test_renames_types_and_sorts(spark) -> None:
    raw = spark.createDataFrame(
        [marketing_row("1/10/2016", 5, "Spring CPC campaign"), marketing_row("1/2/2016", 1)], MARKETING_HEADER
    )
    expected = [ExpectedColumn(name, type_) for name, type_ in MARKETING.columns]
    typed = lake_types.apply_types(raw, expected, "M/d/yyyy", ["Date"], "test").frame
    result = daily_marketing(typed)

    assert result.columns == [normalize_column_name(h) for h in MARKETING_HEADER]
    assert "mailing_list_adds" in result.columns
    types = dict(result.dtypes)
    assert types.pop("date") == "date"
    assert types.pop("events") == "string"
    assert set(types.values()) == {"bigint"}
    rows = result.collect()
    assert [r.date for r in rows] == [dt.date(2016, 1, 2), dt.date(2016, 1, 10)]
    assert rows[0].events is None and rows[1].events == "Spring CPC campaign"
    assert rows[1].new_visitors_seo == 5 and rows[1].mailing_list_adds == 5 + 7


def test_unregistered_extra_columns_are_kept_as_strings(spark) -> None:
    header = [*MARKETING_HEADER, "Podcast Listens"]
    raw = spark.createDataFrame([[*marketing_row("1/2/2016", 1), "12"]], header)
    expected = [ExpectedColumn(name, type_) for name, type_ in MARKETING.columns]
    result = daily_marketing(lake_types.apply_types(raw, expected, "M/d/yyyy", ["Date"], "test").frame)
    assert dict(result.dtypes)["podcast_listens"] == "string"
