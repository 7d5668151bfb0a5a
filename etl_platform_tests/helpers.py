"""Small builders for test inputs."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from etl_platform.resources import DuckDBEngine, LocalLake, SparkJobRunner
from etl_platform.samples import MARKETING_HEADER, SALES_HEADER
from etl_platform.versions import TableVersions

QUICKSIGHT_SALES = "SalesPipeline_QuickSightSample.csv"
QUICKSIGHT_MARKETING = "MarketingData_QuickSightSample.csv"


def table_resources(lake_root: Path | str, spark: SparkJobRunner) -> dict[str, object]:
    """What table assets need, over a lake folder of the test's own."""
    return {
        "lake": LocalLake(root=str(lake_root)),
        "spark": spark,
        "sql": DuckDBEngine(catalog_path=str(Path(lake_root) / "catalog.duckdb")),
    }


def created_instance_home(home: Path) -> Path:
    """A Dagster home whose instance storage exists before any process opens it: processes that
    create the same new SQLite instance at once race on its schema (and one may hang on the lock)."""
    home.mkdir(parents=True, exist_ok=True)
    with dg.DagsterInstance.from_config(str(home)):
        pass
    return home


def current_path(lake_root: Path | str, location: str) -> Path:
    """Where the published version of the table at ``location`` is, as a reader resolves it."""
    lake = LocalLake(root=str(lake_root))
    return Path(lake.uri(TableVersions(lake, location).require_current().key))


def write_csv(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(",".join(row) for row in [header, *rows]) + "\n", encoding="utf-8")
    return path


def sales_row(day: str, stage: str, forecast: str, weighted: str = "0") -> list[str]:
    """One opportunity in the QuickSight layout; only the columns the transform reads vary."""
    return [day, "Avery Quinn", "US_SMB_1", "SMB", "US", day, forecast, stage, weighted, "FALSE", "FALSE", "TRUE"]


def marketing_row(day: str, value: int, events: str = "") -> list[str]:
    return [day, *[str(value + i) for i in range(len(MARKETING_HEADER) - 2)], events]


__all__ = ["MARKETING_HEADER", "created_instance_home", "current_path", "QUICKSIGHT_MARKETING", "QUICKSIGHT_SALES", "SALES_HEADER", "marketing_row", "sales_row", "table_resources", "write_csv"]
