"""sales_daily: per-day aggregation, Lead filtering, real dates, and the script run in-process."""

import datetime as dt

import lake_types
import pytest
from process_sales_data import daily_sales, main

from etl_platform.contract.columns import ExpectedColumn, columns_to_json
from etl_platform.datasets import SALES
from etl_platform_tests.helpers import SALES_HEADER, sales_row, write_csv

COLUMNS = columns_to_json(SALES.columns)


def typed_sales(spark, rows):
    raw = spark.createDataFrame(rows, SALES_HEADER)
    expected = [ExpectedColumn(name, type_) for name, type_ in SALES.columns]
    return lake_types.apply_types(raw, expected, "M/d/yyyy", ["Date"], "test").frame


def test_aggregates_one_row_per_day_with_lead_revenue(spark) -> None:
    frame = typed_sales(
        spark,
        [
            sales_row("1/2/2016", "Lead", "100", "10"),
            sales_row("1/2/2016", "Lead", "50", "5"),
            sales_row("1/2/2016", "Prospect", "200", "40"),
            sales_row("1/10/2016", "Closed Lost", "0", "0"),
            sales_row("1/10/2016", "Qualified", "300", "150"),
        ],
    )
    result = [r.asDict() for r in daily_sales(frame).collect()]
    assert result == [
        {
            "date": dt.date(2016, 1, 2),
            "opportunities": 3,
            "forecasted_monthly_revenue": 350,
            "weighted_revenue": 55,
            "leads_generated": 2,
            "forecasted_lead_revenue": 150,
        },
        {
            "date": dt.date(2016, 1, 10),
            "opportunities": 2,
            "forecasted_monthly_revenue": 300,
            "weighted_revenue": 150,
            "leads_generated": 0,
            "forecasted_lead_revenue": 0,
        },
    ]


def test_sorted_by_real_date_not_text(spark) -> None:
    """The original's M/D/YYYY strings sorted 1/10 before 1/2 and 12/31/2015 after 1/1/2016."""
    days = ["1/10/2016", "1/2/2016", "12/31/2015", "1/1/2016", "2/1/2016"]
    frame = typed_sales(spark, [sales_row(d, "Lead", "1") for d in days])
    assert [r.date.isoformat() for r in daily_sales(frame).collect()] == [
        "2015-12-31",
        "2016-01-01",
        "2016-01-02",
        "2016-01-10",
        "2016-02-01",
    ]


def test_output_types_are_date_and_bigint(spark) -> None:
    frame = typed_sales(spark, [sales_row("1/2/2016", "Lead", "100", "10")])
    assert daily_sales(frame).dtypes == [
        ("date", "date"),
        ("opportunities", "bigint"),
        ("forecasted_monthly_revenue", "bigint"),
        ("weighted_revenue", "bigint"),
        ("leads_generated", "bigint"),
        ("forecasted_lead_revenue", "bigint"),
    ]


def test_lead_stage_is_matched_exactly_after_trimming(spark) -> None:
    frame = typed_sales(spark, [sales_row("1/2/2016", " Lead ", "7"), sales_row("1/2/2016", "Leads", "9")])
    (row,) = daily_sales(frame).collect()
    assert (row.leads_generated, row.forecasted_lead_revenue) == (1, 7)


def test_script_main_reads_csv_writes_parquet_and_counts_rejects(spark, tmp_path) -> None:
    source = write_csv(
        tmp_path / "sales.csv",
        SALES_HEADER,
        [
            sales_row("1/2/2016", "Lead", "100"),
            sales_row("1/3/2016", "Lead", "oops"),
            sales_row("1/3/2016", "Prospect", "4"),
        ],
    )
    out = tmp_path / "sales_daily"
    argv = ["--input_path", str(source), "--output_path", str(out), "--columns", COLUMNS, "--JOB_ID", "ignored"]
    main(argv)
    written = spark.read.parquet(str(out)).orderBy("date").collect()
    assert [(r.date.isoformat(), r.opportunities, r.forecasted_monthly_revenue) for r in written] == [
        ("2016-01-02", 1, 100),
        ("2016-01-03", 1, 4),
    ]


def test_script_main_fails_with_one_line_on_missing_columns(tmp_path, caplog) -> None:
    source = write_csv(tmp_path / "bad.csv", ["Date", "Revenue"], [["1/2/2016", "5"]])
    argv = ["--input_path", str(source), "--output_path", str(tmp_path / "o"), "--columns", COLUMNS]
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 1
    assert "bad.csv: the header lacks expected columns" in caplog.text
    assert not (tmp_path / "o").exists()
