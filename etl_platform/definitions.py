"""The code location: assets and jobs from the registry, resources from the environment switch."""

from collections.abc import Mapping
from typing import Any

import dagster as dg

from etl_platform.assets import build_assets
from etl_platform.datasets import REGISTRY, Registry
from etl_platform.environment import resources_for_environment
from etl_platform.jobs import pipeline_job


def build_definitions(registry: Registry = REGISTRY, resources: Mapping[str, Any] | None = None) -> dg.Definitions:
    return dg.Definitions(
        assets=build_assets(registry),
        jobs=[pipeline_job(registry)],
        resources=dict(resources) if resources is not None else resources_for_environment(),
    )


defs = build_definitions()
