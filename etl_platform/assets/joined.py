"""The joined table: every registered input's daily table, inner-joined on date."""

from collections.abc import Iterator, Sequence

import dagster as dg

from etl_platform.assets._shared import (
    OWNERS,
    PIPELINE_GROUP,
    SPARK_RETRY_POLICY,
    TABLE_KINDS,
    TableResult,
    check_plan,
    table_pool,
    table_results,
)
from etl_platform.automation.barrier import join_barrier
from etl_platform.automation.cadence import Cycle
from etl_platform.checks.settings import QualitySettings
from etl_platform.checks.specs import check_specs
from etl_platform.contract.checks import JOINED_CHECKS
from etl_platform.contract.jobs import JoinJob
from etl_platform.datasets import Registry
from etl_platform.project import script_code_version
from etl_platform.resources import Lake, SparkJobRunner, TableCatalog
from etl_platform.resources.catalog import TableSnapshot
from etl_platform.tables import Build, LakeTables


def published_inputs(catalog: TableCatalog, inputs: Sequence[str]) -> dict[str, TableSnapshot]:
    """The current snapshot of each input table; the join refuses to run before every one has one."""
    current = {table: catalog.current(table) for table in inputs}
    missing = [table for table, snapshot in current.items() if snapshot is None]
    if missing:
        raise dg.Failure(
            description=f"cannot join: {', '.join(missing)} not published yet (no snapshot in the {catalog.describe()})",
            allow_retries=False,
        )
    return {table: snapshot for table, snapshot in current.items() if snapshot is not None}


def joined_asset(registry: Registry, cycle: Cycle) -> dg.AssetsDefinition:
    joined = registry.joined
    inputs = [dataset.output_table for dataset in registry.inputs]

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
        context: dg.AssetExecutionContext, lake: Lake, catalog: TableCatalog, spark: SparkJobRunner
    ) -> Iterator[TableResult]:
        # Each input is read at its current snapshot, resolved once here and passed to the script
        # as that snapshot's file list: the join sees one committed snapshot of each input even if
        # an input is republished meanwhile, and the script stays plain PySpark.
        snapshots = published_inputs(catalog, inputs)
        tables = LakeTables(lake, catalog)
        settings = QualitySettings.from_env()
        staged = tables.stage(joined.table_location, context.run.run_id)
        job = JoinJob(
            inputs={table: tuple(catalog.data_files(table, s.snapshot_id)) for table, s in snapshots.items()},
            output_path=lake.uri(staged),
            checks=check_plan(settings),
        )
        run = spark.run_script(context, joined.script, job.arguments(), joined.capacity)
        metadata = {
            "input_tables": dg.MetadataValue.json(sorted(inputs)),
            "input_versions": dg.MetadataValue.json({table: s.version for table, s in snapshots.items()}),
        }
        build = Build(
            run_id=context.run.run_id, rows=0, inputs={table: s.snapshot_id for table, s in snapshots.items()}
        )
        yield from table_results(context, run, metadata, tables, joined.table_location, staged, settings, build).results

    return _joined
