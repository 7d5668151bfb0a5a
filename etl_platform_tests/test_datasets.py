"""The registry drives the graph: a third dataset joins in with no code change."""

from dataclasses import replace

import dagster as dg
import pytest

from etl_platform.datasets import (
    MARKETING,
    REGISTRY,
    SALES,
    THREE_ENGINES,
    Engine,
    InputDataset,
    JoinedTable,
    Registry,
    UnknownDatasetError,
    registry_named,
)
from etl_platform.definitions import build_definitions
from etl_platform_tests.helpers import third_input

WEB = third_input("web", columns=(("Date", "date"), ("Sessions", "bigint")))


def _join_deps(registry: Registry) -> set[dg.AssetKey]:
    graph = build_definitions(registry).resolve_asset_graph()
    return set(graph.get(dg.AssetKey(registry.joined.name)).parent_keys)


def test_join_depends_on_every_registered_input() -> None:
    assert _join_deps(REGISTRY) == {dg.AssetKey("sales_daily"), dg.AssetKey("marketing_daily")}


def test_a_third_dataset_adds_a_join_input_and_its_own_assets() -> None:
    registry = Registry(inputs=(SALES, MARKETING, WEB), joined=REGISTRY.joined)
    assert _join_deps(registry) == {dg.AssetKey(t) for t in ("sales_daily", "marketing_daily", "web_daily")}
    graph = build_definitions(registry).resolve_asset_graph()
    assert graph.get(dg.AssetKey("web_daily")).parent_keys == {dg.AssetKey(["landing", "web"])}
    assert registry.table_locations()["web_daily"] == "processed/web_daily"


def test_unknown_dataset_lists_the_known_ones() -> None:
    with pytest.raises(UnknownDatasetError, match="unknown dataset 'crm'; registered datasets: sales, marketing"):
        REGISTRY.dataset("crm")


def test_registry_rejects_reused_names_and_prefixes() -> None:
    with pytest.raises(ValueError, match="landing_prefix used more than once"):
        Registry(inputs=(SALES, InputDataset(**{**WEB.__dict__, "landing_prefix": "sales/"})), joined=REGISTRY.joined)


def test_dataset_declaration_is_validated() -> None:
    with pytest.raises(ValueError, match="landing_prefix must look like"):
        InputDataset(**{**WEB.__dict__, "landing_prefix": "web"})
    with pytest.raises(ValueError, match="date column 'Day' is not among its columns"):
        InputDataset(**{**WEB.__dict__, "date_column": "Day"})
    for share in (-0.01, 1.0):
        with pytest.raises(ValueError, match="max_reject_share must be at least 0 and below 1"):
            InputDataset(**{**WEB.__dict__, "max_reject_share": share})
    assert InputDataset(**{**WEB.__dict__, "max_reject_share": 0.01}).max_reject_share == 0.01


def test_joined_table_location_is_in_the_joined_zone() -> None:
    assert JoinedTable(name="j", script="s.py", description="").table_location == "joined/j"


def test_the_report_declaration_names_only_columns_the_inputs_produce() -> None:
    assert REGISTRY.report.table_location == "reports/engagement_revenue_correlation"
    for report, message in [
        (replace(REGISTRY.report, engagement_input="web"), "engagement input 'web' is not registered"),
        (replace(REGISTRY.report, sales_metrics=("opportunities", "revenue")), r"sales metrics \['revenue'\]"),
        (replace(REGISTRY.report, sales_metrics=("website_visits",)), r"sales metrics \['website_visits'\]"),
        (replace(REGISTRY.report, weekly=("opportunities", "opportunities")), "the weekly pair"),
    ]:
        with pytest.raises(ValueError, match=message):
            Registry(inputs=(SALES, MARKETING), joined=REGISTRY.joined, report=report)


def test_each_input_asks_only_for_its_engines_resource_and_shows_its_engine() -> None:
    graph = build_definitions(THREE_ENGINES).resolve_asset_graph()
    expected = {
        "sales_daily": ("spark", {"spark", "iceberg"}),
        "marketing_daily": ("emr_serverless", {"spark", "emr", "iceberg"}),
        "ad_spend_daily": ("sql", {"sql", "iceberg"}),
    }
    for table, (engine, kinds) in expected.items():
        node = graph.get(dg.AssetKey(table))
        assert node.kinds == kinds
        assert node.metadata["engine"] == dg.MetadataValue.text(engine)
        engine_keys = {"spark", "emr_serverless", "sql"} & set(node.assets_def.required_resource_keys)
        assert engine_keys == {engine}
    assert "sql-scripts/process_ad_spend.sql" in (graph.get(dg.AssetKey("ad_spend_daily")).description or "")
    joined = graph.get(dg.AssetKey(THREE_ENGINES.joined.name))
    assert joined.parent_keys == {dg.AssetKey(t) for t in ("sales_daily", "marketing_daily", "ad_spend_daily")}


def test_a_transform_must_be_what_its_engine_runs() -> None:
    with pytest.raises(ValueError, match=r"dataset web: the sql engine runs a \.sql file, got script 'process_web.py'"):
        replace(WEB, script="process_web.py", engine=Engine.SQL)
    with pytest.raises(ValueError, match=r"the emr_serverless engine runs a \.py file, got script 'web.sql'"):
        replace(WEB, script="web.sql", engine=Engine.EMR_SERVERLESS)


def test_the_registry_setting_picks_a_registry_and_names_the_known_ones() -> None:
    assert registry_named("quicksight") is REGISTRY
    assert [d.engine for d in registry_named("three_engines").inputs] == [
        Engine.SPARK,
        Engine.EMR_SERVERLESS,
        Engine.SQL,
    ]
    with pytest.raises(
        UnknownDatasetError, match="ETL_REGISTRY='crm' is not a registry; choose one of: quicksight, three_engines"
    ):
        registry_named("crm")
