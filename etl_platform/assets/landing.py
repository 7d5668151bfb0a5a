"""Landing zones as external assets: observed (files arrive from outside), never built here."""

import dagster as dg

from etl_platform.assets._shared import OWNERS, PIPELINE_GROUP
from etl_platform.automation.cadence import Cycle
from etl_platform.datasets import InputDataset


def landing_asset_key(dataset: InputDataset) -> dg.AssetKey:
    return dg.AssetKey(dataset.landing_asset_path)


def landing_asset_spec(dataset: InputDataset, cycle: Cycle) -> dg.AssetSpec:
    """The expected raw schema shows on the asset; freshness flags a dataset late for its cycle."""
    expected = ", ".join(name for name, _ in dataset.columns)
    schema = dg.TableSchema(columns=[dg.TableColumn(name, type_) for name, type_ in dataset.columns])
    return dg.AssetSpec(
        key=landing_asset_key(dataset),
        description=f"CSV files delivered under `{dataset.landing_key_prefix}`. Expected columns: {expected}.",
        group_name=PIPELINE_GROUP,
        kinds={"csv"},
        owners=OWNERS,
        freshness_policy=cycle.freshness_policy(),
        metadata={
            "landing_prefix": dg.MetadataValue.text(dataset.landing_key_prefix),
            "dagster/column_schema": dg.MetadataValue.table_schema(schema),
        },
    )
