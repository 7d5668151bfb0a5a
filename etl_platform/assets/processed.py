"""One processed daily table per registered input dataset, built by that dataset's Spark script."""

from collections.abc import Iterator

import dagster as dg
from pydantic import Field

from etl_platform.assets._shared import (
    OWNERS,
    PIPELINE_GROUP,
    SPARK_RETRY_POLICY,
    TableBuild,
    TableResult,
    check_plan,
    stale_build,
    stale_failure,
    table_pool,
    table_results,
)
from etl_platform.assets.landing import landing_asset_key
from etl_platform.assets.refusal import audit_failure, refused_input, restate_unrun_checks
from etl_platform.assets.sources import SourceChoice, choose_landing_object
from etl_platform.automation.cadence import Cycle
from etl_platform.checks.settings import QualitySettings
from etl_platform.checks.specs import check_specs
from etl_platform.contract.checks import PARSE_REJECTS, processed_checks
from etl_platform.contract.columns import ExpectedColumn
from etl_platform.contract.jobs import ProcessJob
from etl_platform.datasets import Engine, InputDataset
from etl_platform.project import transform_code_version, transform_path
from etl_platform.quarantine import quarantine, quarantined_report
from etl_platform.resources import Lake, LakeObject, TableCatalog
from etl_platform.resources.catalog import BuildSource
from etl_platform.resources.lake import LakeError
from etl_platform.resources.processing import FileProcessor
from etl_platform.resources.script_run import ScriptFailed, ScriptRun
from etl_platform.tables import Build, LakeTables


class LandingObjectConfig(dg.Config):
    """Which landed file to process; sensors set it, a hand-started run may leave it empty."""

    object_key: str | None = Field(
        default=None,
        description="Lake key of the landing file, e.g. 'landing/sales/2026-11-23.csv'. "
        "Empty: the newest data file under the dataset's landing prefix that is not quarantined.",
    )
    allow_older: bool = Field(
        default=False,
        description="Publish even if the current snapshot was built from a file uploaded later "
        "(an explicit rebuild of an older file); by default such a build is skipped as stale.",
    )


def column_lineage(dataset: InputDataset) -> dg.TableColumnLineage:
    source = landing_asset_key(dataset)
    return dg.TableColumnLineage(
        deps_by_column={
            output: [dg.TableColumnDep(asset_key=source, column_name=raw) for raw in raws]
            for output, raws in dataset.column_lineage().items()
        }
    )


def process_job(dataset: InputDataset, input_path: str, output_path: str, settings: QualitySettings) -> ProcessJob:
    """The arguments of the dataset's script for one landing file."""
    return ProcessJob(
        input_path=input_path,
        output_path=output_path,
        columns=tuple(ExpectedColumn(name, type_) for name, type_ in dataset.columns),
        date_column=dataset.date_column,
        date_format=dataset.date_format,
        checks=check_plan(settings, dataset.row_checks, dataset.max_reject_share),
        multiline=dataset.multiline,
    )


def chosen_source(
    context: dg.AssetExecutionContext, lake: Lake, catalog: TableCatalog, dataset: InputDataset, object_key: str | None
) -> SourceChoice:
    """The landing file to build from; one refused before is refused again without starting Spark."""
    try:
        choice = choose_landing_object(lake, dataset, object_key)
    except LakeError as error:
        raise dg.Failure(description=str(error), allow_retries=False) from None
    for skipped, reason in choice.skipped:
        context.log.warning(f"skipped {skipped.key}: {reason}")
    source = choice.source
    report = quarantined_report(lake, dataset, source)
    if report:
        restate_unrun_checks(context, catalog, source)
        raise refused_input(
            lake, source, f"{source.key} failed before and is quarantined; land a corrected file", report
        )
    return choice


def run_or_refuse(
    context: dg.AssetExecutionContext,
    engine: FileProcessor,
    lake: Lake,
    catalog: TableCatalog,
    dataset: InputDataset,
    source: LakeObject,
    job: ProcessJob,
) -> ScriptRun:
    """The transform's run on the dataset's engine; when it blames its input, the file is
    quarantined and the step fails for good. Any other failure may be transient: the step's retry
    policy takes it."""
    try:
        return engine.process_file(context, dataset.script, job, dataset.capacity)
    except ScriptFailed as failed:
        if failed.failure.retryable:
            raise
        reason = failed.description or "failed"
        report = quarantine(lake, dataset, source, context.run.run_id, reason)
        restate_unrun_checks(context, catalog, source)
        raise refused_input(lake, source, reason, report, failed.failure.line) from None


def settle(
    context: dg.AssetExecutionContext,
    lake: Lake,
    catalog: TableCatalog,
    dataset: InputDataset,
    source: LakeObject,
    build: TableBuild,
) -> Iterator[TableResult | dg.AssetObservation]:
    """What an audited build leaves: skipped as stale, refused (the file quarantined), or published
    (with any rejected rows it left out kept in the quarantine)."""
    if build.stale_against is not None:
        # A newer upload was published while this one was built (builds of one table only overlap
        # when its pool's limit allows it): nothing is published, and the step says so.
        yield from build.results
        raise stale_failure(context, source, build.stale_against)
    if build.failed:
        reason, line = audit_failure(source, build.failed)
        report = quarantine(lake, dataset, source, context.run.run_id, reason, build.failed)
        yield from build.results  # every check ran: their results stand
        raise refused_input(lake, source, reason, report, line)
    if build.rejected_rows:
        rejects = [c for c in build.checks if c.check_name == PARSE_REJECTS.name]
        note = f"{build.rejected_rows} rejected row(s) left out of the published table"
        report = quarantine(lake, dataset, source, context.run.run_id, note, rejects, failed=False)
        context.log.warning(f"{source.key}: {note}; they are in {lake.uri(report)}")
    yield from build.results


# The kinds the UI shows on a processed table, by the engine that computes it.
ENGINE_KINDS = {
    Engine.SPARK: {"spark", "iceberg"},
    Engine.EMR_SERVERLESS: {"spark", "emr", "iceberg"},
    Engine.SQL: {"sql", "iceberg"},
}


def processed_asset(dataset: InputDataset, cycle: Cycle) -> dg.AssetsDefinition:
    lineage = dg.MetadataValue.column_lineage(column_lineage(dataset))
    # The engine's resource key is the engine's name: the asset asks for that resource only, so a
    # registry without SQL inputs needs no SQL engine to run its processed tables.
    engine_key = dataset.engine.value

    @dg.asset(
        name=dataset.output_table,
        deps=[landing_asset_key(dataset)],
        group_name=PIPELINE_GROUP,
        kinds=ENGINE_KINDS[dataset.engine],
        owners=OWNERS,
        code_version=transform_code_version(dataset.engine, dataset.script),
        freshness_policy=cycle.freshness_policy(),
        retry_policy=SPARK_RETRY_POLICY,
        pool=table_pool(dataset.output_table),
        output_required=False,  # a stale build (an older upload) publishes nothing
        check_specs=check_specs(dataset.output_table, processed_checks(dataset.max_reject_share), dataset.row_checks),
        description=f"{dataset.description}\n\nBuilt by `{transform_path(dataset.engine, dataset.script)}` "
        f"on the {dataset.engine.value} engine from one file under `{dataset.landing_key_prefix}` (the newest "
        "unless the run config names one).",
        metadata={
            "table_location": dg.MetadataValue.text(dataset.table_location),
            "engine": dg.MetadataValue.text(dataset.engine.value),
        },
        required_resource_keys={"lake", "catalog", engine_key},
    )
    def _processed(
        context: dg.AssetExecutionContext, config: LandingObjectConfig
    ) -> Iterator[TableResult | dg.AssetObservation]:
        lake: Lake = context.resources.lake
        catalog: TableCatalog = context.resources.catalog
        engine: FileProcessor = getattr(context.resources, engine_key)
        choice = chosen_source(context, lake, catalog, dataset, config.object_key)
        source = choice.source
        tables = LakeTables(lake, catalog)
        newer = None if config.allow_older else tables.newer_snapshot(dataset.output_table, BuildSource.of(source))
        if newer is not None:  # decided before any Spark runs: the step ends with no materialisation
            yield from stale_build(context, source, newer)
            return
        context.log.info(f"processing {source.key} ({source.size:,} bytes) into {dataset.output_table}")
        settings = QualitySettings.from_env()
        staged = tables.stage(dataset.table_location, context.run.run_id)
        job = process_job(dataset, lake.uri(source.key), lake.uri(staged), settings)
        run = run_or_refuse(context, engine, lake, catalog, dataset, source, job)
        metadata = {**source.metadata(), **choice.metadata(), "dagster/column_lineage": lineage}
        build = Build(run_id=context.run.run_id, rows=0, source=BuildSource.of(source))
        audited = table_results(
            context, run, metadata, tables, dataset.table_location, staged, settings, build, config.allow_older
        )
        yield from settle(context, lake, catalog, dataset, source, audited)

    return _processed
