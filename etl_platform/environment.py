"""The one switch: ``ETL_PLATFORM_ENV`` (``local`` by default) picks the resource set.

Asset, sensor and check code sees only the interfaces in ``etl_platform.resources``; nothing else
reads this variable.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from typing import Any

import dagster as dg

from etl_platform.project import DEFAULT_DAGSTER_HOME, DEFAULT_LAKE_ROOT
from etl_platform.resources import (
    DuckDBEngine,
    GlueTableCatalog,
    LocalLake,
    LocalNotifier,
    LocalSparkRunner,
    SqlTableCatalog,
)

ENV_VAR = "ETL_PLATFORM_ENV"


class UnknownEnvironmentError(ValueError):
    """ETL_PLATFORM_ENV names no resource set."""


def spark_server_dir() -> str:
    """Where the warm Spark server of this Dagster instance is kept track of."""
    home = os.environ.get("DAGSTER_HOME") or str(DEFAULT_DAGSTER_HOME)
    return os.environ.get("ETL_SPARK_SERVER_DIR") or os.path.join(home, "spark-connect")


def local_resources() -> dict[str, Any]:
    """Everything on this machine: a lake folder, an Iceberg SQL catalog beside it, local Spark, DuckDB,
    alerts to a file (and a webhook)."""
    lake_root = os.environ.get("ETL_LAKE_ROOT") or str(DEFAULT_LAKE_ROOT)
    catalog = SqlTableCatalog(
        uri=os.environ.get("ETL_ICEBERG_CATALOG_URI") or f"sqlite:///{os.path.join(lake_root, 'catalog.db')}",
        warehouse=lake_root,
    )
    return {
        "catalog": catalog,
        "lake": LocalLake(root=lake_root),
        "spark": LocalSparkRunner(
            mode=os.environ.get("ETL_SPARK_MODE", "connect").strip().lower(),
            master=os.environ.get("ETL_SPARK_MASTER", "local[*]"),
            driver_memory=os.environ.get("ETL_SPARK_DRIVER_MEMORY", "2g"),
            server_dir=spark_server_dir(),
            idle_seconds=float(os.environ.get("ETL_SPARK_IDLE_SECONDS", "600")),
        ),
        "sql": DuckDBEngine(catalog=catalog),
        "notifier": LocalNotifier(
            alerts_file=os.environ.get("ETL_ALERTS_FILE") or str(DEFAULT_DAGSTER_HOME / "alerts.jsonl"),
            webhook_url=os.environ.get("ETL_ALERT_WEBHOOK_URL") or None,
        ),
    }


def aws_resources() -> dict[str, Any]:
    """S3, Glue, Athena and SNS. Names come from the CloudFormation stack's outputs (printed by
    ``etl-platform deploy``); credentials only from boto3's standard chain."""
    from dagster_aws.s3 import S3Resource

    from etl_platform.resources.athena import AthenaEngine
    from etl_platform.resources.glue_runner import GlueSparkRunner
    from etl_platform.resources.s3_lake import S3Lake
    from etl_platform.resources.sns import SnsNotifier

    region = dg.EnvVar("ETL_AWS_REGION")
    return {
        "catalog": GlueTableCatalog(
            region_name=region,
            namespace=dg.EnvVar("ETL_GLUE_DATABASE"),
            endpoint_url=os.environ.get("AWS_ENDPOINT_URL"),
        ),
        "lake": S3Lake(
            bucket=dg.EnvVar("ETL_DATA_BUCKET"),
            prefix=os.environ.get("ETL_LAKE_PREFIX", ""),
            s3=S3Resource(region_name=region),
        ),
        "spark": GlueSparkRunner(
            region_name=region,
            job_prefix=dg.EnvVar("ETL_GLUE_JOB_PREFIX"),
            pipes_bucket=dg.EnvVar("ETL_ARTIFACT_BUCKET"),
        ),
        "sql": AthenaEngine(
            region_name=region,
            database=dg.EnvVar("ETL_GLUE_DATABASE"),
            workgroup=dg.EnvVar("ETL_ATHENA_WORKGROUP"),
            output_location=dg.EnvVar("ETL_ATHENA_RESULTS"),
        ),
        "notifier": SnsNotifier(topic_arn=dg.EnvVar("ETL_ALERT_TOPIC_ARN"), region_name=region),
    }


RESOURCE_SETS: Mapping[str, Callable[[], dict[str, Any]]] = {"local": local_resources, "aws": aws_resources}


def environment_name() -> str:
    return os.environ.get(ENV_VAR, "local").strip().lower() or "local"


@contextmanager
def initialized_resources(name: str | None = None) -> Iterator[dict[str, Any]]:
    """The resource set with its environment variables resolved, for use outside a Dagster run (the CLI)."""
    with ExitStack() as stack:
        yield {
            key: stack.enter_context(resource.process_config_and_initialize_cm())
            for key, resource in resources_for_environment(name).items()
        }


def resources_for_environment(name: str | None = None) -> dict[str, Any]:
    name = name or environment_name()
    try:
        return RESOURCE_SETS[name]()
    except KeyError:
        raise UnknownEnvironmentError(
            f"{ENV_VAR}={name!r} is not a known environment; choose one of: {', '.join(RESOURCE_SETS)}"
        ) from None
