"""What both lakes (local folder, S3 on moto) must do alike for versioned publish and quarantine."""

import boto3
import pytest
from dagster_aws.s3 import S3Resource
from moto import mock_aws

from etl_platform.resources.lake import LocalLake
from etl_platform.resources.s3_lake import S3Lake


@pytest.fixture(params=["local", "s3"])
def lake(fake_aws_credentials, request, tmp_path, monkeypatch):
    if request.param == "local":
        yield LocalLake(root=str(tmp_path / "lake"))
        return
    with mock_aws():
        boto3.client("s3", region_name="us-east-1").create_bucket(Bucket="data")
        yield S3Lake(bucket="data", prefix="lake/", s3=S3Resource(region_name="us-east-1"))


def test_small_objects_are_written_whole_and_read_back(lake) -> None:
    assert lake.read_bytes("reports/t/summary.json") is None
    lake.write_bytes("reports/t/summary.json", b'{"v": 1}')
    lake.write_bytes("reports/t/summary.json", b'{"v": 2}')
    assert lake.read_bytes("reports/t/summary.json") == b'{"v": 2}'
    assert [o.key for o in lake.list_objects("reports/t/")] == ["reports/t/summary.json"]


def test_copy_leaves_the_source_untouched(lake, tmp_path) -> None:
    source = tmp_path / "in.csv"
    source.write_bytes(b"Date\n1/1/2016\n")
    original = lake.put_file(source, "landing/sales/in.csv")
    copied = lake.copy_object("landing/sales/in.csv", "quarantine/sales/x_in.csv")
    assert copied.key == "quarantine/sales/x_in.csv" and copied.size == original.size
    assert (
        lake.read_bytes("quarantine/sales/x_in.csv") == lake.read_bytes("landing/sales/in.csv") == source.read_bytes()
    )
    assert lake.stat("landing/sales/in.csv").size == original.size


def test_delete_prefix_removes_only_that_folder(lake) -> None:
    for key in ("t/data/a/part-0.parquet", "t/data/a/_SUCCESS", "t/data/ab/part-0.parquet", "t/summary.json"):
        lake.write_bytes(key, b"x")
    assert lake.delete_prefix("t/data/a/") == 2
    assert sorted(o.key for o in lake.list_objects("t/")) == ["t/data/ab/part-0.parquet", "t/summary.json"]
    assert lake.delete_prefix("t/data/missing/") == 0
