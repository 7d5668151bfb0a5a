"""Typing a landing file: header matching and typed parsing with reasons for each rejected row."""

import datetime as dt
from unittest.mock import MagicMock

import lake_builds
import lake_csv
import lake_types
import pytest
from process_sales_data import daily_sales

from etl_platform.assets.processed import process_job
from etl_platform.checks.settings import QualitySettings
from etl_platform.contract import landing
from etl_platform.contract.columns import ExpectedColumn
from etl_platform.contract.errors import InputError
from etl_platform.contract.jobs import ProcessJob
from etl_platform.datasets import MARKETING, SALES
from etl_platform_tests.helpers import QUICKSIGHT_MARKETING, QUICKSIGHT_SALES, SALES_HEADER, sales_row, write_csv


def test_header_matched_after_trim_and_case_fold() -> None:
    expected = [ExpectedColumn("Mailing list adds", "bigint"), ExpectedColumn("Date", "date")]
    assert landing.match_columns(["DATE", "Mailing list adds "], expected, "f.csv") == {
        "Mailing list adds": "Mailing list adds ",
        "Date": "DATE",
    }


def test_missing_columns_error_names_file_and_columns() -> None:
    expected = [ExpectedColumn("Date", "date"), ExpectedColumn("Weighted Revenue", "bigint")]
    with pytest.raises(InputError, match=r"f\.csv: the header lacks expected columns \['Weighted Revenue'\]"):
        landing.match_columns(["Date", "Revenue"], expected, "f.csv")


def test_apply_types_parses_and_rejects_unparseable_rows(spark) -> None:
    raw = spark.createDataFrame(
        [
            ("1/2/2016", " 10 ", "TRUE", "note", "x"),
            ("2/30/2016", "5", "FALSE", None, "y"),  # impossible date
            ("1/3/2016", "abc", "FALSE", None, "z"),  # not a number
            ("1/4/2016", "", "maybe", None, "w"),  # empty amount is NULL, not an error; odd flag is
            ("", "7", "TRUE", None, "v"),  # the date is required
            ("12/31/2015", None, None, None, "u"),
        ],
        ["Date", "Amount", "Flag", "Note", "Extra "],
    )
    expected = [
        ExpectedColumn("date", "date"),
        ExpectedColumn("amount", "bigint"),
        ExpectedColumn("flag", "boolean"),
        ExpectedColumn("note", "string"),
    ]
    typed = lake_types.apply_types(raw, expected, "M/d/yyyy", required=["date"], source="t.csv")
    # Sorted here: a sort in Spark 3.5 samples its input in a pass of its own, observed too (SPARK-37487).
    rows = sorted(typed.frame.collect(), key=lambda row: row["date"])
    assert [tuple(r) for r in rows] == [
        (dt.date(2015, 12, 31), None, None, None, "u"),
        (dt.date(2016, 1, 2), 10, True, "note", "x"),
    ]
    assert typed.frame.columns == ["date", "amount", "flag", "note", "Extra"]
    assert dict(typed.frame.dtypes) == {
        "date": "date",
        "amount": "bigint",
        "flag": "boolean",
        "note": "string",
        "Extra": "string",
    }
    assert typed.counts() == {"input_rows": 6, "rejected_rows": 4, "broken_records": 0}
    assert sorted((r["Date"], r["_reason"]) for r in typed.rejected.collect()) == [
        ("", "Date is empty"),
        ("1/3/2016", "Amount: 'abc' is not a bigint"),
        ("1/4/2016", "Flag: 'maybe' is not a boolean"),
        ("2/30/2016", "Date: '2/30/2016' is not a date"),
    ]


def _both_ways(spark, path, dataset) -> tuple[lake_types.TypedInput, lake_types.TypedInput]:
    """The file typed by the CSV reader and value by value, each frame collected in file order."""
    header = landing.read_header(landing.read_head(str(path)), str(path))
    expected = [ExpectedColumn(name, type_) for name, type_ in dataset.columns]
    common = {"required": [dataset.date_column], "source": str(path)}
    native = lake_types.apply_native_types(
        lake_csv.read_landing_csv(
            spark,
            str(path),
            header=header,
            types=lake_types.native_types(header, expected, str(path)),
            date_format=dataset.date_format,
        ),
        expected,
        **common,
    )
    careful = lake_types.apply_types(
        lake_csv.read_landing_csv(spark, str(path), header=header), expected, dataset.date_format, **common
    )
    return native, careful


@pytest.mark.parametrize("dataset", [SALES, MARKETING], ids=lambda d: d.name)
def test_the_readers_own_typing_gives_the_value_by_value_table_and_counts_on_a_plain_file(
    spark, quicksight_dir, dataset
) -> None:
    name = QUICKSIGHT_SALES if dataset is SALES else QUICKSIGHT_MARKETING
    native, careful = _both_ways(spark, quicksight_dir / name, dataset)
    assert native.frame.schema == careful.frame.schema
    assert native.frame.collect() == careful.frame.collect()
    assert native.counts() == careful.counts() and native.counts()["input_rows"] > 700
    assert native.per_column("unparsed") == careful.per_column("unparsed")
    assert native.per_column("nonempty") == careful.per_column("nonempty")
    assert native.suspect_rows() == 0 and careful.suspect_rows() == 0


def test_rows_the_reader_cannot_judge_are_suspect_and_the_build_types_the_file_value_by_value(spark, tmp_path) -> None:
    """A padded amount, a blank date, a bad byte and a short row: the reader's typing counts them
    suspect (it rejects nothing itself); the build then writes what value-by-value typing gives."""
    good = sales_row("1/2/2016", "Lead", "100", "10")
    rows = [
        good,
        sales_row("1/3/2016", "Lead", " 40 ", "4"),  # padded: value by value keeps it
        sales_row("", "Lead", "5", "1"),  # blank required date: rejected
        sales_row("1/4/2016", "Le\ufffdd", "5", "1"),  # not UTF-8: rejected
        "1/5/2016,Lead",  # fields unlike the header's: rejected
    ]
    path = write_csv(tmp_path / "sales.csv", SALES_HEADER, rows)
    native, careful = _both_ways(spark, path, SALES)
    for typed in (native, careful):  # classic Spark waits for the observed pass; Connect answers nothing at once
        typed.frame.write.format("noop").mode("overwrite").save()
    assert native.suspect_rows() == 4 and native.counts()["rejected_rows"] == 0
    assert careful.counts() == {"input_rows": 5, "rejected_rows": 3, "broken_records": 0}

    reporter = MagicMock()
    job = process_job(SALES, str(path), str(tmp_path / "out"), QualitySettings())
    argv = [part for name, value in job.arguments().items() for part in (f"--{name}", value)]
    typed, _, audit = lake_builds._written(
        reporter,
        spark,
        ProcessJob.parse(argv),
        landing.read_header(landing.read_head(str(path)), str(path)),
        daily_sales,
    )
    (said,) = [call.args[0] for call in reporter.info.call_args_list]
    assert (
        said
        == f"{path}: 4 row(s) not plainly typed (padded, blank, malformed or misplaced values); reading it again value by value"
    )
    assert typed.counts() == careful.counts() and typed.suspect_rows() == 0
    assert audit.outcomes(lambda: spark.read.parquet(str(tmp_path / "out")))[0] == 2  # two days kept: 1/2 and 1/3
