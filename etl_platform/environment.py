"""The one switch: ``ETL_PLATFORM_ENV`` (``local`` by default) picks the resource set.

Asset, sensor and check code sees only the interfaces in ``etl_platform.resources``; nothing else
reads this variable.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any

from etl_platform.project import DEFAULT_DAGSTER_HOME, DEFAULT_LAKE_ROOT
from etl_platform.resources import DuckDBEngine, LocalLake, LocalNotifier, LocalSparkRunner

ENV_VAR = "ETL_PLATFORM_ENV"


class UnknownEnvironmentError(ValueError):
    """ETL_PLATFORM_ENV names no resource set."""


def local_resources() -> dict[str, Any]:
    """Everything on this machine: a lake folder, local Spark, DuckDB, alerts to a file (and a webhook)."""
    lake_root = os.environ.get("ETL_LAKE_ROOT") or str(DEFAULT_LAKE_ROOT)
    return {
        "lake": LocalLake(root=lake_root),
        "spark": LocalSparkRunner(
            master=os.environ.get("ETL_SPARK_MASTER", "local[*]"),
            driver_memory=os.environ.get("ETL_SPARK_DRIVER_MEMORY", "2g"),
        ),
        "sql": DuckDBEngine(catalog_path=os.path.join(lake_root, "catalog.duckdb")),
        "notifier": LocalNotifier(
            alerts_file=os.environ.get("ETL_ALERTS_FILE") or str(DEFAULT_DAGSTER_HOME / "alerts.jsonl"),
            webhook_url=os.environ.get("ETL_ALERT_WEBHOOK_URL") or None,
        ),
    }


RESOURCE_SETS: Mapping[str, Callable[[], dict[str, Any]]] = {"local": local_resources}


def environment_name() -> str:
    return os.environ.get(ENV_VAR, "local").strip().lower() or "local"


def resources_for_environment(name: str | None = None) -> dict[str, Any]:
    name = name or environment_name()
    try:
        return RESOURCE_SETS[name]()
    except KeyError:
        raise UnknownEnvironmentError(
            f"{ENV_VAR}={name!r} is not a known environment; choose one of: {', '.join(RESOURCE_SETS)}"
        ) from None
