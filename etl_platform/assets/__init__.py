"""Asset definitions generated from the dataset registry."""

import dagster as dg

from etl_platform.assets.joined import joined_asset
from etl_platform.assets.landing import landing_asset_spec
from etl_platform.assets.processed import processed_asset
from etl_platform.automation.cadence import Cycle
from etl_platform.datasets import Registry


def build_assets(registry: Registry, cycle: Cycle) -> list[dg.AssetSpec | dg.AssetsDefinition]:
    landing = [landing_asset_spec(dataset, cycle) for dataset in registry.inputs]
    processed = [processed_asset(dataset, cycle) for dataset in registry.inputs]
    return [*landing, *processed, joined_asset(registry, cycle)]
