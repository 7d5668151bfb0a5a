"""The shared script plumbing: Glue-style arguments, header matching, typed parsing."""

import datetime as dt

import lake_job
import pytest
from lake_job import ExpectedColumn, LakeJobError


@pytest.mark.parametrize(
    ("raw", "normal"),
    [
        ("Mailing list adds ", "mailing_list_adds"),
        ("  New visitors   Social Media", "new_visitors_social_media"),
        ("Date", "date"),
        ("Tablet\tuniques", "tablet_uniques"),
    ],
)
def test_normalize_column_name(raw: str, normal: str) -> None:
    assert lake_job.normalize_column_name(raw) == normal


def test_job_args_read_glue_style_and_ignore_glue_extras() -> None:
    argv = ["--JOB_ID", "j_1", "--input_path", "s3://b/landing/sales/a.csv", "--TempDir", "s3://t", "--output_path", "/x"]
    args = lake_job.parse_job_args(argv, required=["input_path", "output_path"], optional={"date_format": "M/d/yyyy"})
    assert args == {"input_path": "s3://b/landing/sales/a.csv", "output_path": "/x", "date_format": "M/d/yyyy"}


def test_missing_job_arguments_are_named() -> None:
    with pytest.raises(LakeJobError, match="--output_path, --columns"):
        lake_job.parse_job_args(["--input_path", "a"], required=["input_path", "output_path", "columns"])


def test_columns_argument_must_be_pairs_of_known_types() -> None:
    assert lake_job.parse_columns_arg('[["Date", "date"], ["N", "bigint"]]') == [
        ExpectedColumn("Date", "date"),
        ExpectedColumn("N", "bigint"),
    ]
    with pytest.raises(LakeJobError, match="unknown types \\['money'\\]"):
        lake_job.parse_columns_arg('[["N", "money"]]')
    with pytest.raises(LakeJobError, match="JSON list"):
        lake_job.parse_columns_arg("Date:date")


def test_header_matched_after_trim_and_case_fold() -> None:
    expected = [ExpectedColumn("Mailing list adds", "bigint"), ExpectedColumn("Date", "date")]
    assert lake_job.match_columns(["DATE", "Mailing list adds "], expected, "f.csv") == {
        "Mailing list adds": "Mailing list adds ",
        "Date": "DATE",
    }


def test_missing_columns_error_names_file_and_columns() -> None:
    expected = [ExpectedColumn("Date", "date"), ExpectedColumn("Weighted Revenue", "bigint")]
    with pytest.raises(LakeJobError, match=r"f\.csv: the header lacks expected columns \['Weighted Revenue'\]"):
        lake_job.match_columns(["Date", "Revenue"], expected, "f.csv")


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
    typed = lake_job.apply_types(raw, expected, "M/d/yyyy", required=["date"], source="t.csv")
    rows = typed.frame.orderBy("date").collect()
    assert [tuple(r) for r in rows] == [
        (dt.date(2015, 12, 31), None, None, None, "u"),
        (dt.date(2016, 1, 2), 10, True, "note", "x"),
    ]
    assert typed.frame.columns == ["date", "amount", "flag", "note", "Extra"]
    assert dict(typed.frame.dtypes) == {"date": "date", "amount": "bigint", "flag": "boolean", "note": "string", "Extra": "string"}
    assert typed.counts() == {"input_rows": 6, "rejected_rows": 4, "broken_records": 0}
    assert sorted((r["Date"], r["_reason"]) for r in typed.rejected.collect()) == [
        ("", "Date is empty"),
        ("1/3/2016", "Amount: 'abc' is not a bigint"),
        ("1/4/2016", "Flag: 'maybe' is not a boolean"),
        ("2/30/2016", "Date: '2/30/2016' is not a date"),
    ]


def test_schema_metadata_is_pipes_table_schema(spark) -> None:
    frame = spark.createDataFrame([(1, "a")], "n bigint, s string")
    assert lake_job.schema_metadata(frame) == {
        "type": "table_schema",
        "raw_value": {
            "columns": [
                {"name": "n", "type": "bigint", "constraints": {"nullable": True}},
                {"name": "s", "type": "string", "constraints": {"nullable": True}},
            ]
        },
    }


def test_write_parquet_replaces_previous_output_and_counts_rows(spark, tmp_path) -> None:
    out = str(tmp_path / "t")
    assert lake_job.write_parquet(spark.range(5), out) == 5
    assert lake_job.write_parquet(spark.range(3), out) == 3
    assert spark.read.parquet(out).count() == 3
    assert all(p.name.endswith(".snappy.parquet") for p in (tmp_path / "t").glob("part-*"))
