"""A joined table of made-up days, registered in a DuckDB catalog the way a build registers it."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from etl_platform.datasets import REGISTRY
from etl_platform.insight.correlation_sql import SALES_METRICS, engagement_metrics
from etl_platform.resources import DuckDBEngine


def random_days(days: int, seed: int = 7) -> dict[str, list]:
    """Every engagement and sales column of the joined table, independent random counts."""
    rng = np.random.default_rng(seed)
    columns: dict[str, list] = {"date": [dt.date(2016, 1, 1) + dt.timedelta(days=i) for i in range(days)]}
    for metric in [*engagement_metrics(), *SALES_METRICS]:
        columns[metric] = rng.integers(0, 10_000, days).tolist()
    return columns


def register_joined(root: Path, columns: dict[str, list]) -> DuckDBEngine:
    location = root / "joined" / REGISTRY.joined.name
    location.mkdir(parents=True, exist_ok=True)
    table = pa.table({name: pa.array(values, pa.date32() if name == "date" else pa.int64()) for name, values in columns.items()})
    pq.write_table(table, location / "part-00000.snappy.parquet")
    engine = DuckDBEngine(catalog_path=str(root / "catalog.duckdb"))
    engine.register_table(REGISTRY.joined.name, str(location), [], table.num_rows, "run-synthetic")
    return engine
