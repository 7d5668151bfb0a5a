"""The joined table: every registered input's daily table, inner-joined on date."""

import json
from collections.abc import Iterator

import dagster as dg

from etl_platform.assets._shared import OWNERS, SPARK_RETRY_POLICY, TABLE_KINDS, TableResult, table_results
from etl_platform.automation.barrier import join_barrier
from etl_platform.automation.cadence import Cycle
from etl_platform.checks.settings import QualitySettings
from etl_platform.checks.specs import JOINED_CHECKS, check_plan, check_specs
from etl_platform.datasets import Registry
from etl_platform.project import script_code_version
from etl_platform.resources import Lake, SparkJobRunner, SqlEngine


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
        freshness_policy=cycle.freshness_policy(),
        retry_policy=SPARK_RETRY_POLICY,
        check_specs=check_specs(joined.name, JOINED_CHECKS, ()),
        description=f"{joined.description}\n\nInputs: {', '.join(inputs)}. Built by `glue-scripts/{joined.script}`.",
        metadata={"table_location": dg.MetadataValue.text(joined.table_location)},
    )
    def _joined(
        context: dg.AssetExecutionContext, lake: Lake, spark: SparkJobRunner, sql: SqlEngine
    ) -> Iterator[TableResult]:
        missing = [table for table, location in inputs.items() if not lake.has_data(location)]
        if missing:
            locations = ", ".join(lake.uri(inputs[table]) for table in missing)
            raise dg.Failure(
                description=f"cannot join: {', '.join(missing)} not built yet (no data at {locations})",
                allow_retries=False,
            )
        settings = QualitySettings.from_env()
        invocation = spark.run_script(
            context,
            joined.script,
            {
                "inputs": json.dumps({table: lake.uri(location) for table, location in inputs.items()}),
                "output_path": lake.uri(joined.table_location),
                "checks": check_plan((), settings),
            },
            joined.capacity,
        )
        metadata = {"input_tables": dg.MetadataValue.json(sorted(inputs))}
        yield from table_results(context, invocation, metadata, sql, lake.uri(joined.table_location), settings)

    return _joined
