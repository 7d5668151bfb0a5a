"""Jobs: the whole pipeline over the registry's tables."""

import dagster as dg

from etl_platform.datasets import Registry
from etl_platform.insight.correlation_sql import REPORT_TABLE


def pipeline_job(registry: Registry):
    tables = [dataset.output_table for dataset in registry.inputs] + [registry.joined.name, REPORT_TABLE]
    return dg.define_asset_job(
        "etl_pipeline_job",
        selection=dg.AssetSelection.assets(*tables),
        description="Process the newest landed file of every input dataset, then build the joined table and its report.",
    )
