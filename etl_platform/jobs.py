"""Jobs: the whole pipeline over the registry's tables."""

from __future__ import annotations

from typing import Any

import dagster as dg

from etl_platform.datasets import Registry


def pipeline_job(registry: Registry) -> Any:  # an asset job; Dagster does not export its type
    tables = [dataset.output_table for dataset in registry.inputs] + [registry.joined.name, registry.report.table]
    return dg.define_asset_job(
        "etl_pipeline_job",
        selection=dg.AssetSelection.assets(*tables),
        executor_def=dg.multiprocess_executor,  # the inputs' steps at once
        description="Process the newest landed file of every input dataset, then build the joined table and its report.",
    )
