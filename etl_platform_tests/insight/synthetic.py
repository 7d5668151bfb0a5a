"""A joined table of made-up days, published to the lake's Iceberg catalog the way a build publishes it."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pyarrow as pa

from etl_platform.datasets import REGISTRY
from etl_platform.insight.correlation_sql import engagement_metrics
from etl_platform.resources import DuckDBEngine
from etl_platform_tests.helpers import lake_catalog, publish_parquet


def random_days(days: int, seed: int = 7) -> dict[str, list]:
    """Every engagement and sales column of the joined table, independent random counts."""
    rng = np.random.default_rng(seed)
    columns: dict[str, list] = {"date": [dt.date(2016, 1, 1) + dt.timedelta(days=i) for i in range(days)]}
    for metric in [*engagement_metrics(), *REGISTRY.report.sales_metrics]:
        columns[metric] = rng.integers(0, 10_000, days).tolist()
    return columns


def publish_joined(root: Path, columns: dict[str, list]) -> DuckDBEngine:
    """``columns`` as the joined table's current snapshot in the lake at ``root``; the engine reads it."""
    table = pa.table(
        {name: pa.array(values, pa.date32() if name == "date" else pa.int64()) for name, values in columns.items()}
    )
    publish_parquet(root, REGISTRY.joined.name, REGISTRY.joined.table_location, table, run_id="run-synthetic")
    return DuckDBEngine(catalog=lake_catalog(root))
