"""sales_marketing_daily: inner join of every input on date, date once, ascending."""

import datetime as dt
import json

import lake_job
import pytest
from join_marketing_and_sales_data import column_lineage, join_daily, main

from etl_platform.contract.report import ColumnSource

D = dt.date


def test_inner_join_keeps_common_dates_once_in_date_order(spark) -> None:
    sales = spark.createDataFrame(
        [(D(2016, 1, 10), 1), (D(2016, 1, 2), 2), (D(2015, 12, 31), 3)], "date date, opportunities bigint"
    )
    marketing = spark.createDataFrame(
        [(D(2016, 1, 2), 20), (D(2016, 1, 10), 10), (D(2016, 2, 1), 5)], "date date, visits bigint"
    )
    joined = join_daily({"sales_daily": sales, "marketing_daily": marketing})
    assert joined.columns == ["date", "opportunities", "visits"]
    assert [tuple(r) for r in joined.collect()] == [(D(2016, 1, 2), 2, 20), (D(2016, 1, 10), 1, 10)]


def test_three_inputs_join_on_dates_all_share(spark) -> None:
    frames = {
        name: spark.createDataFrame([(D(2016, 1, d), d) for d in days], f"date date, {name}_n bigint")
        for name, days in {"a": [1, 2, 3], "b": [2, 3, 4], "c": [3, 2, 9]}.items()
    }
    assert [r.date.day for r in join_daily(frames).collect()] == [2, 3]


def test_column_clash_between_inputs_is_an_error(spark) -> None:
    one = spark.createDataFrame([(D(2016, 1, 1), 1)], "date date, n bigint")
    with pytest.raises(lake_job.LakeJobError, match="column 'n' is in both a and b"):
        join_daily({"a": one, "b": one})


def test_input_without_date_is_an_error(spark) -> None:
    with pytest.raises(lake_job.LakeJobError, match="has no 'date' column"):
        join_daily({"a": spark.createDataFrame([(1,)], "n bigint")})


def test_main_joins_parquet_inputs_named_in_the_inputs_argument(spark, tmp_path) -> None:
    paths = {}
    for name, rows in {"s": [(D(2016, 1, 1), 1), (D(2016, 1, 2), 2)], "m": [(D(2016, 1, 2), 7)]}.items():
        paths[name] = str(tmp_path / name)
        spark.createDataFrame(rows, f"date date, {name}_v bigint").write.parquet(paths[name])
    out = tmp_path / "joined"
    main(["--inputs", json.dumps(paths), "--output_path", str(out)])
    assert [tuple(r) for r in spark.read.parquet(str(out)).collect()] == [(D(2016, 1, 2), 2, 7)]


def test_column_lineage_names_every_input(spark) -> None:
    sales = spark.createDataFrame([(D(2016, 1, 1), 1)], "date date, opportunities bigint")
    marketing = spark.createDataFrame([(D(2016, 1, 1), 2)], "date date, website_visits bigint")
    lineage = column_lineage({"sales_daily": sales, "marketing_daily": marketing})
    assert lineage == {
        "date": (ColumnSource("sales_daily", "date"), ColumnSource("marketing_daily", "date")),
        "opportunities": (ColumnSource("sales_daily", "opportunities"),),
        "website_visits": (ColumnSource("marketing_daily", "website_visits"),),
    }
