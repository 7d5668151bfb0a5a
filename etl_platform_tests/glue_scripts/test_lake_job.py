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
    argv = [
        "--JOB_ID",
        "j_1",
        "--input_path",
        "s3://b/landing/sales/a.csv",
        "--TempDir",
        "s3://t",
        "--output_path",
        "/x",
    ]
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


LINES_FILE = b'A,B,C\n1,2,3\n\n1,"x,y",3\n1,2\n1,2,3,4\n9,9,x\r\n9,9,x\n"q""r",5,6\n'
# (fields as Spark reads them, whether Spark found the record malformed) -> the line it starts on
WANTED_LINES = [
    ((["1", "x,y", "3"], False), 4),  # a quoted comma, after a blank line Spark skips
    ((["1", "2", None], True), 5),  # too few fields: the missing one is NULL
    ((["1", "2", "3"], True), 6),  # too many: only the first three are read; line 2 is not malformed
    ((["9", "9", "x"], False), 7),  # CRLF line end
    ((["9", "9", "x"], False), 8),  # the same record again: the next line
    ((['q"r', "5", "6"], False), 9),  # an escaped quote
    ((["nope", "1", "1"], False), None),  # not in the file
]


def test_record_lines_finds_the_line_each_record_starts_on(tmp_path) -> None:
    (tmp_path / "f.csv").write_bytes(LINES_FILE)
    records, lines = zip(*WANTED_LINES)
    assert lake_job.record_lines(str(tmp_path / "f.csv"), records, width=3) == list(lines)


def test_record_lines_counts_the_lines_of_values_spanning_lines_when_reading_multiline(tmp_path) -> None:
    (tmp_path / "f.csv").write_bytes(b'A,B,C\n1,"two\nlines",3\n1,2,x\n"x\ny",2,z\n')
    records = [(["1", "2", "x"], False), (["x\ny", "2", "z"], False)]
    assert lake_job.record_lines(str(tmp_path / "f.csv"), records, width=3, multiline=True) == [4, 5]


def test_record_lines_streams_an_s3_object(monkeypatch) -> None:
    import boto3
    from moto import mock_aws

    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket="data")
        s3.put_object(Bucket="data", Key="landing/sales/f.csv", Body=LINES_FILE)
        records, lines = zip(*WANTED_LINES)
        assert lake_job.record_lines("s3://data/landing/sales/f.csv", records, width=3) == list(lines)
