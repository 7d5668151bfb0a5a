"""Landing zones as external assets: observed (files arrive from outside), never built here."""

import dagster as dg

from etl_platform.assets._shared import OWNERS
from etl_platform.datasets import InputDataset


def landing_asset_key(dataset: InputDataset) -> dg.AssetKey:
    return dg.AssetKey(["landing", dataset.name])


def landing_asset_spec(dataset: InputDataset) -> dg.AssetSpec:
    expected = ", ".join(name for name, _ in dataset.columns)
    return dg.AssetSpec(
        key=landing_asset_key(dataset),
        description=f"CSV files delivered under `{dataset.landing_key_prefix}`. Expected columns: {expected}.",
        group_name="landing",
        kinds={"csv"},
        owners=OWNERS,
        metadata={"landing_prefix": dg.MetadataValue.text(dataset.landing_key_prefix)},
    )
