"""The joined table: every registered input's daily table, inner-joined on date."""

import json
from collections.abc import Iterator

import dagster as dg

from etl_platform.assets._shared import OWNERS, PIPELINE_GROUP, SPARK_RETRY_POLICY, TABLE_KINDS, TableResult, table_pool, table_results
from etl_platform.automation.barrier import join_barrier
from etl_platform.automation.cadence import Cycle
from etl_platform.checks.settings import QualitySettings
from etl_platform.checks.specs import JOINED_CHECKS, check_plan, check_specs
from etl_platform.datasets import Registry
from etl_platform.project import script_code_version
from etl_platform.resources import Lake, SparkJobRunner, SqlEngine
from etl_platform.versions import TableVersions


def joined_asset(registry: Registry, cycle: Cycle) -> dg.AssetsDefinition:
    joined = registry.joined
    inputs = {dataset.output_table: dataset.table_location for dataset in registry.inputs}

    @dg.asset(
        name=joined.name,
        deps=list(inputs),
        group_name=PIPELINE_GROUP,
        kinds=TABLE_KINDS,
        owners=OWNERS,
        code_version=script_code_version(joined.script),
        automation_condition=join_barrier(cycle),
        freshness_policy=cycle.freshness_policy(),
        retry_policy=SPARK_RETRY_POLICY,
        pool=table_pool(joined.name),
        check_specs=check_specs(joined.name, JOINED_CHECKS, ()),
        description=f"{joined.description}\n\nInputs: {', '.join(inputs)}. Built by `glue-scripts/{joined.script}`.",
        metadata={"table_location": dg.MetadataValue.text(joined.table_location)},
    )
    def _joined(
        context: dg.AssetExecutionContext, lake: Lake, spark: SparkJobRunner, sql: SqlEngine
    ) -> Iterator[TableResult]:
        # Each input is read at its current version, resolved once here: the join sees one
        # consistent version of each even if an input is republished meanwhile.
        current = {table: TableVersions(lake, location).current() for table, location in inputs.items()}
        missing = [table for table, version in current.items() if version is None]
        if missing:
            locations = ", ".join(lake.uri(inputs[table]) for table in missing)
            raise dg.Failure(
                description=f"cannot join: {', '.join(missing)} not published yet (no version at {locations})",
                allow_retries=False,
            )
        settings = QualitySettings.from_env()
        staged = TableVersions(lake, joined.table_location).stage(context.run.run_id)
        invocation = spark.run_script(
            context,
            joined.script,
            {
                "inputs": json.dumps({table: lake.uri(version.key) for table, version in current.items() if version}),
                "output_path": lake.uri(staged),
                "checks": check_plan((), settings),
            },
            joined.capacity,
        )
        metadata = {
            "input_tables": dg.MetadataValue.json(sorted(inputs)),
            "input_versions": dg.MetadataValue.json({table: version.version for table, version in current.items() if version}),
        }
        yield from table_results(context, invocation, metadata, lake, sql, joined.table_location, staged, settings).results

    return _joined
