"""One processed daily table per registered input dataset, built by that dataset's Spark script."""

import json
from collections.abc import Iterator

import dagster as dg
from pydantic import Field

from etl_platform.assets._shared import OWNERS, SPARK_RETRY_POLICY, TABLE_KINDS, TableResult, table_pool, table_results
from etl_platform.assets.landing import landing_asset_key
from etl_platform.automation.cadence import Cycle
from etl_platform.checks.settings import QualitySettings
from etl_platform.checks.specs import PARSE_REJECTS, PROCESSED_CHECKS, check_plan, check_specs
from etl_platform.datasets import InputDataset
from etl_platform.project import script_code_version
from etl_platform.quarantine import quarantine, quarantined_report
from etl_platform.resources import Lake, LakeObject, SparkJobRunner, SqlEngine
from etl_platform.resources.lake import LakeError
from etl_platform.versions import TableVersions


class LandingObjectConfig(dg.Config):
    """Which landed file to process; sensors set it, a hand-started run may leave it empty."""

    object_key: str | None = Field(
        default=None,
        description="Lake key of the landing file, e.g. 'landing/sales/2026-11-23.csv'. "
        "Empty: the newest data file under the dataset's landing prefix.",
    )


def resolve_landing_object(lake: Lake, dataset: InputDataset, object_key: str | None) -> LakeObject:
    if object_key is None:
        return lake.newest_data_object(dataset.landing_key_prefix)
    if not object_key.startswith(dataset.landing_key_prefix):
        raise LakeError(f"object {object_key!r} is not under {dataset.name}'s landing prefix {dataset.landing_key_prefix}")
    found = lake.stat(object_key)
    if found is None:
        raise LakeError(f"landing object {lake.uri(object_key)} does not exist")
    return found


def column_lineage(dataset: InputDataset) -> dg.TableColumnLineage:
    source = landing_asset_key(dataset)
    return dg.TableColumnLineage(
        deps_by_column={
            output: [dg.TableColumnDep(asset_key=source, column_name=raw) for raw in raws]
            for output, raws in dataset.column_lineage().items()
        }
    )


def processed_asset(dataset: InputDataset, cycle: Cycle) -> dg.AssetsDefinition:
    lineage = column_lineage(dataset)

    @dg.asset(
        name=dataset.output_table,
        deps=[landing_asset_key(dataset)],
        group_name="processed",
        kinds=TABLE_KINDS,
        owners=OWNERS,
        code_version=script_code_version(dataset.script),
        freshness_policy=cycle.freshness_policy(),
        retry_policy=SPARK_RETRY_POLICY,
        pool=table_pool(dataset.output_table),
        check_specs=check_specs(dataset.output_table, PROCESSED_CHECKS, dataset.row_checks),
        description=f"{dataset.description}\n\nBuilt by `glue-scripts/{dataset.script}` from one file "
        f"under `{dataset.landing_key_prefix}` (the newest unless the run config names one).",
        metadata={"table_location": dg.MetadataValue.text(dataset.table_location)},
    )
    def _processed(
        context: dg.AssetExecutionContext, config: LandingObjectConfig, lake: Lake, spark: SparkJobRunner, sql: SqlEngine
    ) -> Iterator[TableResult]:
        try:
            source = resolve_landing_object(lake, dataset, config.object_key)
        except LakeError as error:
            raise dg.Failure(description=str(error), allow_retries=False) from None
        report = quarantined_report(lake, dataset, source)
        if report:
            raise dg.Failure(
                description=f"{source.key} failed before and is quarantined ({lake.uri(report)}); land a corrected file",
                allow_retries=False,
            )
        context.log.info(f"processing {source.key} ({source.size:,} bytes) into {dataset.output_table}")
        settings = QualitySettings.from_env()
        staged = TableVersions(lake, dataset.table_location).stage(context.run.run_id)
        try:
            invocation = spark.run_script(
                context,
                dataset.script,
                {
                    "input_path": lake.uri(source.key),
                    "output_path": lake.uri(staged),
                    "columns": json.dumps([list(column) for column in dataset.columns]),
                    "date_format": dataset.date_format,
                    "date_column": dataset.date_column,
                    "checks": check_plan(dataset.row_checks, settings),
                    "multiline": str(dataset.multiline).lower(),
                },
                dataset.capacity,
            )
        except dg.Failure as failure:
            if failure.allow_retries:  # possibly transient: the file is not at fault
                raise
            report = quarantine(lake, dataset, source, context.run.run_id, failure.description or "failed")
            raise dg.Failure(description=f"{failure.description} (quarantined: {lake.uri(report)})", allow_retries=False) from None
        metadata = {**source.metadata(), "dagster/column_lineage": dg.MetadataValue.column_lineage(lineage)}
        build = table_results(context, invocation, metadata, lake, sql, dataset.table_location, staged, settings)
        if build.failed:
            report = quarantine(lake, dataset, source, context.run.run_id, "blocking checks failed", build.failed)
            context.log.error(f"{source.key} quarantined: {lake.uri(report)}")
        elif build.rejected_rows:
            rejects = [c for c in build.checks if c.check_name == PARSE_REJECTS.name]
            note = f"{build.rejected_rows} rejected row(s) left out of the published table"
            report = quarantine(lake, dataset, source, context.run.run_id, note, rejects, failed=False)
            context.log.warning(f"{source.key}: {note}; they are in {lake.uri(report)}")
        yield from build.results

    return _processed
