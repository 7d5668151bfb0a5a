"""The S3 lake over a moto bucket: keys, identity by ETag, bounded pages, confinement."""

import boto3
import pytest
from dagster_aws.s3 import S3Resource
from moto import mock_aws

from etl_platform.resources.lake import LakeError
from etl_platform.resources.s3_lake import S3Lake


@pytest.fixture
def lake(fake_aws_credentials):
    with mock_aws():
        boto3.client("s3", region_name="us-east-1").create_bucket(Bucket="data")
        yield S3Lake(bucket="data", prefix="lake/", s3=S3Resource(region_name="us-east-1"))


def test_put_stat_and_uri(lake, tmp_path) -> None:
    source = tmp_path / "a.csv"
    source.write_text("Date\n1/1/2016\n")
    stored = lake.put_file(source, "landing/sales/a.csv")
    assert (stored.key, stored.size) == ("landing/sales/a.csv", 14)
    assert stored.etag and stored.fingerprint == stored.etag
    assert lake.uri("landing/sales/a.csv") == "s3://data/lake/landing/sales/a.csv"
    assert lake.stat("landing/sales/a.csv") == stored
    assert lake.stat("landing/sales/missing.csv") is None
    source.write_text("Date\n1/2/2016\n")
    assert lake.put_file(source, "landing/sales/a.csv").etag != stored.etag  # a re-upload is a new object


def test_pages_are_bounded_and_ordered(lake, tmp_path) -> None:
    source = tmp_path / "x.csv"
    source.write_text("x")
    for name in ("c.csv", "a.csv", "b.csv", "d.csv", "e.csv"):
        lake.put_file(source, f"landing/sales/{name}")
    lake.put_file(source, "landing/marketing/m.csv")
    page, more = lake.list_page("landing/sales/", "", 2)
    assert [o.key for o in page] == ["landing/sales/a.csv", "landing/sales/b.csv"] and more
    page, more = lake.list_page("landing/sales/", "landing/sales/d.csv", 2)
    assert [o.key for o in page] == ["landing/sales/e.csv"] and not more
    assert len(list(lake.list_objects("landing/"))) == 6


def test_confinement(lake) -> None:
    with pytest.raises(LakeError):
        lake.uri("../other-bucket-prefix/x")


def test_arrival_sensor_over_s3(lake, tmp_path) -> None:
    """The same sensor code as locally: new object -> one run keyed by ETag; a re-upload -> another."""
    import dagster as dg

    from etl_platform.automation.arrival import arrival_sensor
    from etl_platform.datasets import SALES

    source = tmp_path / "week47.csv"
    source.write_text("Date\n1/1/2016\n")
    stored = lake.put_file(source, "landing/sales/week47.csv")
    lake.put_file(source, "landing/sales/_SUCCESS")
    sensor = arrival_sensor(SALES)

    def tick(instance, cursor):
        with dg.build_sensor_context(instance=instance, cursor=cursor, resources={"lake": lake}) as context:
            return sensor(context)

    with dg.instance_for_test() as instance:
        first = tick(instance, None)
        (request,) = first.run_requests
        assert request.run_key == f"landing/sales/week47.csv@{stored.etag}"
        assert isinstance(tick(instance, first.cursor), dg.SkipReason)
        source.write_text("Date\n1/1/2016\n1/2/2016\n")
        lake.put_file(source, "landing/sales/week47.csv")
        (reupload,) = tick(instance, first.cursor).run_requests
        assert reupload.run_key != request.run_key
