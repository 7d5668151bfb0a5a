"""The report asset over a synthetic joined table: computed by DuckDB, charted, gated and published."""

from __future__ import annotations

import base64
import re

import dagster as dg
import pyarrow.parquet as pq

from etl_platform.assets.insight import correlation_report_asset
from etl_platform.automation.cadence import Cycle
from etl_platform.datasets import REGISTRY
from etl_platform.insight.report import chart_paths
from etl_platform.resources import DuckDBEngine, LocalLake
from etl_platform_tests.assets.fake_runner import RecordingRunner
from etl_platform_tests.helpers import current_files, lake_catalog, table_resources
from etl_platform_tests.insight.synthetic import publish_joined, random_days

REPORT_TABLE = REGISTRY.report.table
REPORT = dg.AssetKey(REPORT_TABLE)


def _materialize(root, instance: dg.DagsterInstance) -> dg.ExecuteInProcessResult:
    """The report asset, alone, on the test's resources."""
    return dg.materialize(
        [correlation_report_asset(REGISTRY, Cycle.from_env())],
        resources=table_resources(root, RecordingRunner()),
        instance=instance,
        raise_on_error=False,
    )


def _checks(result: dg.ExecuteInProcessResult) -> dict[str, dg.AssetCheckEvaluation]:
    evaluations = [
        e.event_specific_data for e in result.all_events if e.event_type == dg.DagsterEventType.ASSET_CHECK_EVALUATION
    ]
    return {e.check_name: e for e in evaluations}


def test_report_is_published_with_its_charts_in_the_metadata(tmp_path) -> None:
    publish_joined(tmp_path, random_days(120))
    catalog = lake_catalog(tmp_path)
    joined = catalog.current(REGISTRY.joined.name)
    with dg.instance_for_test() as instance:
        result = _materialize(tmp_path, instance)
        assert result.success
        metadata = instance.get_latest_materialization_event(REPORT).asset_materialization.metadata
    assert all(c.passed for c in _checks(result).values()) and set(_checks(result)) == {
        "correlations_in_range",
        "enough_days",
    }

    images = re.findall(r"data:image/png;base64,([A-Za-z0-9+/=]+)\)", metadata["charts"].value)
    assert len(images) == 2 and all(base64.b64decode(i).startswith(b"\x89PNG\r\n\x1a\n") for i in images)
    assert metadata["dagster/row_count"].value == 17 * 4 and metadata["published"].value is True
    assert metadata["engine"].value == "duckdb" and metadata["estimated_cost_usd"].value == 0
    assert metadata["engine_usage"].value["wall_seconds"] > 0
    assert metadata["top_correlations"].value.count("\n| ") == 10
    lineage = metadata["dagster/column_lineage"].value.deps_by_column
    assert {d.column_name for d in lineage["best_correlation"]} >= {"date", "website_visits", "opportunities"}
    assert {d.asset_key for d in lineage["sales_metric"]} == {dg.AssetKey(REGISTRY.joined.name)}

    # The table is the Iceberg table's current snapshot, recording the joined snapshot it was computed from.
    current = catalog.current(REPORT_TABLE)
    assert metadata["table_version"].value == current.version and current.rows == 68
    assert current.inputs == {REGISTRY.joined.name: joined.snapshot_id} and current.run_id == result.run_id
    assert set(current.checks_passed) == {"correlations_in_range", "enough_days"}
    files = current_files(tmp_path, REPORT_TABLE)
    assert sum(pq.read_metadata(f.removeprefix("file://")).num_rows for f in files) == 68
    engine = DuckDBEngine(catalog=catalog)
    assert engine.query(f"select count(*), max(best_lag_days) <= 14 from {REPORT_TABLE}").rows == [(68, True)]
    # The charts are stored in the build's folder beside its data files, never committed as data.
    lake = LocalLake(root=str(tmp_path))
    paths = chart_paths(lake, catalog)
    assert paths == list(metadata["chart_paths"].value.values()) and len(paths) == 2
    assert all(p.startswith(lake.uri(current.build_key) + "/_charts/") for p in paths)
    assert not any(f.endswith(".png") for f in files)


def test_too_few_days_fail_the_gate_and_keep_the_report_unpublished(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("ETL_REPORT_MIN_DAYS", raising=False)
    publish_joined(tmp_path, random_days(25))  # fewer than the 30 days the gate asks for
    with dg.instance_for_test() as instance:
        result = _materialize(tmp_path, instance)
    assert not result.success
    checks = _checks(result)
    assert checks["enough_days"].passed is False and checks["correlations_in_range"].passed is True
    assert checks["enough_days"].metadata["fewest_days"].value == 11  # 25 days, a 14-day lead
    catalog = lake_catalog(tmp_path)
    assert REPORT_TABLE not in catalog.names() and catalog.current(REPORT_TABLE) is None
    assert chart_paths(LocalLake(root=str(tmp_path)), catalog) == []


def test_missing_joined_table_is_a_clear_failure(tmp_path) -> None:
    with dg.instance_for_test() as instance:
        result = _materialize(tmp_path, instance)
    (failure,) = result.get_step_failure_events()
    assert f"cannot compute {REPORT_TABLE} from {REGISTRY.joined.name}" in failure.event_specific_data.error.message
