"""The report's description, which the asset's overview page renders: the published charts when
there are some, and a code location that loads whatever state the lake is in."""

from __future__ import annotations

import dagster as dg
from dagster_aws.s3 import S3Resource

from etl_platform.assets.insight import correlation_report_asset
from etl_platform.automation.cadence import Cycle
from etl_platform.datasets import REGISTRY
from etl_platform.insight.correlation_sql import REPORT_LOCATION
from etl_platform.resources import LocalLake
from etl_platform.resources.s3_lake import S3Lake


def _description(lake) -> str:
    (spec,) = correlation_report_asset(REGISTRY, Cycle(), lake=lake).specs
    return spec.description


def test_before_the_first_publish_the_description_says_so(tmp_path) -> None:
    text = _description(LocalLake(root=str(tmp_path)))
    assert "No published version yet" in text and "data:image" not in text


def test_an_unreadable_pointer_leaves_the_code_location_loadable(tmp_path) -> None:
    (tmp_path / REPORT_LOCATION).mkdir(parents=True)
    (tmp_path / REPORT_LOCATION / "_current.json").write_text("{not json")
    text = _description(LocalLake(root=str(tmp_path)))
    assert "could not be read when the code location loaded" in text and "is not a version pointer" in text


def test_an_unconfigured_lake_leaves_the_code_location_loadable(monkeypatch) -> None:
    monkeypatch.delenv("ETL_TEST_UNSET_BUCKET", raising=False)
    lake = S3Lake(bucket=dg.EnvVar("ETL_TEST_UNSET_BUCKET"), s3=S3Resource(region_name="us-east-1"))
    assert "ETL_TEST_UNSET_BUCKET" in _description(lake)
