"""Reading a landing file: the line each record Spark read starts on, locally and from S3."""

from etl_platform.contract import landing

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
    assert landing.record_lines(str(tmp_path / "f.csv"), records, width=3) == list(lines)


def test_record_lines_counts_the_lines_of_values_spanning_lines_when_reading_multiline(tmp_path) -> None:
    (tmp_path / "f.csv").write_bytes(b'A,B,C\n1,"two\nlines",3\n1,2,x\n"x\ny",2,z\n')
    records = [(["1", "2", "x"], False), (["x\ny", "2", "z"], False)]
    assert landing.record_lines(str(tmp_path / "f.csv"), records, width=3, multiline=True) == [4, 5]


def test_record_lines_streams_an_s3_object(fake_aws_credentials) -> None:
    import boto3
    from moto import mock_aws

    with mock_aws():
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket="data")
        s3.put_object(Bucket="data", Key="landing/sales/f.csv", Body=LINES_FILE)
        records, lines = zip(*WANTED_LINES)
        assert landing.record_lines("s3://data/landing/sales/f.csv", records, width=3) == list(lines)
