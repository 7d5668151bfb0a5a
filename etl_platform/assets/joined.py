"""The joined table: every registered input's daily table, inner-joined on date."""

import json

import dagster as dg

from etl_platform.assets._shared import OWNERS, SPARK_RETRY_POLICY, TABLE_KINDS, table_result
from etl_platform.automation.barrier import join_barrier
from etl_platform.automation.cadence import Cycle
from etl_platform.datasets import Registry
from etl_platform.project import script_code_version
from etl_platform.resources import Lake, SparkJobRunner


def joined_asset(registry: Registry, cycle: Cycle) -> dg.AssetsDefinition:
    joined = registry.joined
    inputs = {dataset.output_table: dataset.table_location for dataset in registry.inputs}

    @dg.asset(
        name=joined.name,
        deps=list(inputs),
        group_name="joined",
        kinds=TABLE_KINDS,
        owners=OWNERS,
        code_version=script_code_version(joined.script),
        automation_condition=join_barrier(cycle),
        retry_policy=SPARK_RETRY_POLICY,
        description=f"{joined.description}\n\nInputs: {', '.join(inputs)}. Built by `glue-scripts/{joined.script}`.",
        metadata={"table_location": dg.MetadataValue.text(joined.table_location)},
    )
    def _joined(context: dg.AssetExecutionContext, lake: Lake, spark: SparkJobRunner) -> dg.MaterializeResult:
        missing = [table for table, location in inputs.items() if not lake.has_data(location)]
        if missing:
            locations = ", ".join(lake.uri(inputs[table]) for table in missing)
            raise dg.Failure(
                description=f"cannot join: {', '.join(missing)} not built yet (no data at {locations})",
                allow_retries=False,
            )
        invocation = spark.run_script(
            context,
            joined.script,
            {
                "inputs": json.dumps({table: lake.uri(location) for table, location in inputs.items()}),
                "output_path": lake.uri(joined.table_location),
            },
        )
        return table_result(invocation, {"input_tables": dg.MetadataValue.json(sorted(inputs))})

    return _joined
