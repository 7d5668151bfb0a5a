"""Typing a landing file: header matching and typed parsing with reasons for each rejected row."""

import datetime as dt

import lake_types
import pytest

from etl_platform.contract import landing
from etl_platform.contract.columns import ExpectedColumn
from etl_platform.contract.errors import InputError


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
    rows = typed.frame.orderBy("date").collect()
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
