"""The one switch: ``ETL_PLATFORM_ENV`` (``local`` by default) picks the resource set.

Asset, sensor and check code sees only the interfaces in ``etl_platform.resources``; nothing else
looks at which environment this is. Values come from the settings (``etl_platform.settings``); the
AWS profile's names are Dagster ``EnvVar``s, resolved when a resource starts, so the code location
loads before they are set and the UI shows which variable each comes from.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from typing import Any

from etl_platform.resources import (
    DuckDBEngine,
    GlueTableCatalog,
    LocalLake,
    LocalNotifier,
    LocalSparkRunner,
    SqlTableCatalog,
)
from etl_platform.settings import Settings, env_var, get_settings


def local_resources(settings: Settings | None = None) -> dict[str, Any]:
    """Everything on this machine: a lake folder, an Iceberg SQL catalog beside it, local Spark (for
    the inputs of both Spark engines), DuckDB, alerts to a file (and a webhook)."""
    settings = settings or get_settings()
    catalog = SqlTableCatalog(uri=settings.catalog_uri, warehouse=str(settings.lake_root))
    spark = LocalSparkRunner(
        remote=settings.spark_address, master=settings.spark_master, driver_memory=settings.spark_driver_memory
    )
    return {
        "catalog": catalog,
        "lake": LocalLake(root=str(settings.lake_root)),
        # Scripts for Glue and for EMR Serverless are the same PySpark: both run on local Spark here.
        "spark": spark,
        "emr_serverless": spark,
        "sql": DuckDBEngine(catalog=catalog),
        "notifier": LocalNotifier(
            alerts_file=str(settings.alerts_file),
            webhook_url=env_var("alert_webhook_url") if settings.alert_webhook_url else None,
        ),
    }


def aws_resources(settings: Settings | None = None) -> dict[str, Any]:
    """S3, Glue, EMR Serverless, Athena and SNS. Names come from the CloudFormation stack's outputs
    (printed by ``etl-platform deploy``); credentials only from boto3's standard chain."""
    from dagster_aws.s3 import S3Resource

    from etl_platform.resources.athena import AthenaEngine
    from etl_platform.resources.emr_serverless_runner import EmrServerlessSparkRunner
    from etl_platform.resources.glue_runner import GlueSparkRunner
    from etl_platform.resources.s3_lake import S3Lake
    from etl_platform.resources.sns import SnsNotifier

    settings = settings or get_settings()
    region = env_var("aws_region")
    return {
        "catalog": GlueTableCatalog(
            region_name=region, namespace=env_var("glue_database"), endpoint_url=settings.aws_endpoint_url
        ),
        "lake": S3Lake(bucket=env_var("data_bucket"), prefix=settings.lake_prefix, s3=S3Resource(region_name=region)),
        "spark": GlueSparkRunner(
            region_name=region, job_prefix=env_var("glue_job_prefix"), pipes_bucket=env_var("scratch_bucket")
        ),
        "emr_serverless": EmrServerlessSparkRunner(
            region_name=region,
            pipes_bucket=env_var("scratch_bucket"),
            application_id=env_var("emr_serverless_application_id"),
            execution_role_arn=env_var("emr_serverless_role_arn"),
            artifact_bucket=env_var("artifact_bucket"),
        ),
        "sql": AthenaEngine(
            region_name=region,
            database=env_var("glue_database"),
            workgroup=env_var("athena_workgroup"),
            output_location=env_var("athena_results"),
            query_workgroup=env_var("athena_query_workgroup"),
            query_role_arn=env_var("athena_query_role_arn"),
        ),
        "notifier": SnsNotifier(topic_arn=env_var("alert_topic_arn"), region_name=region),
    }


RESOURCE_SETS: Mapping[str, Callable[[Settings], dict[str, Any]]] = {"local": local_resources, "aws": aws_resources}


@contextmanager
def initialized_resources() -> Iterator[dict[str, Any]]:
    """The resource set with its environment variables resolved, for use outside a Dagster run (the CLI)."""
    with ExitStack() as stack:
        yield {
            key: stack.enter_context(resource.process_config_and_initialize_cm())
            for key, resource in resources_for_environment().items()
        }


def resources_for_environment(settings: Settings | None = None) -> dict[str, Any]:
    settings = settings or get_settings()
    return RESOURCE_SETS[settings.platform_env](settings)
