"""The report's description, which the asset's overview page renders: the current snapshot's charts
when there are some, and a code location that loads whatever state the lake and catalog are in."""

from __future__ import annotations

import base64
import re

import dagster as dg
import pyarrow as pa
import pyarrow.parquet as pq
from dagster_aws.s3 import S3Resource

from etl_platform.assets.insight import correlation_report_asset
from etl_platform.automation.cadence import Cycle
from etl_platform.datasets import REGISTRY
from etl_platform.insight.report import HEATMAP, WEEKLY, chart_key
from etl_platform.resources import LocalLake, SqlTableCatalog, TableCatalog
from etl_platform.resources.catalog import TableSnapshot
from etl_platform.resources.s3_lake import S3Lake
from etl_platform.tables import Build, LakeTables
from etl_platform_tests.helpers import lake_catalog

PNG = b"\x89PNG\r\n\x1a\n"
REPORT_TABLE, REPORT_LOCATION = REGISTRY.report.table, REGISTRY.report.table_location


def _description(lake, catalog: TableCatalog) -> str:
    (spec,) = correlation_report_asset(REGISTRY, Cycle(), lake=lake, catalog=catalog).specs
    return spec.description


def _publish_report(root, charts: dict[str, bytes]) -> TableSnapshot:
    """A report snapshot whose build folder holds ``charts`` beside its data file, as the asset stores them."""
    lake = LocalLake(root=str(root))
    tables = LakeTables(lake, lake_catalog(root))
    staged = tables.stage(REPORT_LOCATION, "run-report")
    (root / staged).mkdir(parents=True)
    pq.write_table(pa.table({"engagement_metric": ["website_visits"]}), root / staged / "part-00000.snappy.parquet")
    for name, png in charts.items():
        lake.write_bytes(chart_key(staged, name), png)
    published = tables.publish(REPORT_TABLE, REPORT_LOCATION, staged, Build(run_id="run-report", rows=1))
    assert published.snapshot is not None
    return published.snapshot


def test_before_the_first_publish_the_description_says_so(tmp_path) -> None:
    text = _description(LocalLake(root=str(tmp_path)), lake_catalog(tmp_path))
    assert "No published version yet" in text and "data:image" not in text


def test_the_current_snapshots_charts_are_shown_and_named(tmp_path) -> None:
    charts = {HEATMAP: PNG + b"heatmap", WEEKLY: PNG + b"weekly"}
    snapshot = _publish_report(tmp_path, charts)
    text = _description(LocalLake(root=str(tmp_path)), lake_catalog(tmp_path))
    shown = [base64.b64decode(data) for data in re.findall(r"\(data:image/png;base64,([A-Za-z0-9+/=]+)\)", text)]
    assert shown == [charts[HEATMAP], charts[WEEKLY]]
    assert f"snapshot `{snapshot.snapshot_id}`, run `{snapshot.run_id[:8]}`" in text


def test_a_snapshot_without_charts_says_so(tmp_path) -> None:
    snapshot = _publish_report(tmp_path, {})
    text = _description(LocalLake(root=str(tmp_path)), lake_catalog(tmp_path))
    assert f"The published version (snapshot `{snapshot.snapshot_id}`" in text and "has no charts" in text
    assert "data:image" not in text


def test_an_unreadable_catalog_leaves_the_code_location_loadable(tmp_path) -> None:
    (tmp_path / "catalog.db").write_text("not a SQLite database")
    text = _description(LocalLake(root=str(tmp_path)), lake_catalog(tmp_path))
    assert "could not be read when the code location loaded" in text and "file is not a database" in text
    assert "data:image" not in text


def test_an_unconfigured_lake_leaves_the_code_location_loadable(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("ETL_TEST_UNSET_BUCKET", raising=False)
    lake = S3Lake(bucket=dg.EnvVar("ETL_TEST_UNSET_BUCKET"), s3=S3Resource(region_name="us-east-1"))
    assert "ETL_TEST_UNSET_BUCKET" in _description(lake, lake_catalog(tmp_path))


def test_an_unconfigured_catalog_leaves_the_code_location_loadable(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("ETL_TEST_UNSET_CATALOG_URI", raising=False)
    catalog = SqlTableCatalog(uri=dg.EnvVar("ETL_TEST_UNSET_CATALOG_URI"), warehouse=str(tmp_path))
    assert "ETL_TEST_UNSET_CATALOG_URI" in _description(LocalLake(root=str(tmp_path)), catalog)
