"""Small builders for test inputs."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import psutil
import pyarrow as pa
import pyarrow.parquet as pq

from etl_platform.datasets import InputDataset
from etl_platform.project import GLUE_SCRIPTS_DIR, SHARED_SCRIPTS
from etl_platform.resources import DuckDBEngine, LocalLake, SparkJobRunner, SqlTableCatalog
from etl_platform.resources.catalog import BuildSource, TableSnapshot
from etl_platform.samples import MARKETING_HEADER, SALES_HEADER
from etl_platform.tables import Build, LakeTables

QUICKSIGHT_SALES = "SalesPipeline_QuickSightSample.csv"
QUICKSIGHT_MARKETING = "MarketingData_QuickSightSample.csv"


def lake_catalog(lake_root: Path | str) -> SqlTableCatalog:
    """The Iceberg SQL catalog of a test's lake folder, where the local profile keeps it."""
    return SqlTableCatalog(uri=f"sqlite:///{Path(lake_root) / 'catalog.db'}", warehouse=str(lake_root))


def table_resources(lake_root: Path | str, spark: SparkJobRunner) -> dict[str, object]:
    """What table assets need, over a lake folder of the test's own."""
    catalog = lake_catalog(lake_root)
    return {
        "lake": LocalLake(root=str(lake_root)),
        "catalog": catalog,
        "spark": spark,
        "emr_serverless": spark,
        "sql": DuckDBEngine(catalog=catalog),
    }


def created_instance_home(home: Path) -> Path:
    """A Dagster home whose instance storage exists before any process opens it: processes that
    create the same new SQLite instance at once race on its schema (and one may hang on the lock)."""
    home.mkdir(parents=True, exist_ok=True)
    with dg.DagsterInstance.from_config(str(home)):
        pass
    return home


def iceberg_table(lake_root: Path | str, table: str):
    """The table as any PyIceberg client opens it from the documented local catalog (name
    ``etl_platform``, the SQLite file and warehouse in the lake root), not through the project's code."""
    from pyiceberg.catalog.sql import SqlCatalog

    catalog = SqlCatalog("etl_platform", uri=f"sqlite:///{Path(lake_root) / 'catalog.db'}", warehouse=str(lake_root))
    return catalog.load_table(("etl_platform", table))


def current_files(lake_root: Path | str, table: str) -> list[str]:
    """The data files of the table's current snapshot, as a reader resolves them."""
    return lake_catalog(lake_root).data_files(table)


def publish_parquet(
    lake_root: Path | str,
    name: str,
    location: str,
    table: pa.Table,
    run_id: str = "run-1",
    rejected_rows: int = 0,
    source: BuildSource | None = None,
) -> TableSnapshot:
    """``table`` as one snappy Parquet file in a build folder of ``location``, committed as the next
    snapshot of the Iceberg table ``name``, the way a build publishes it (``source``: the landing
    object it was built from)."""
    lake = LocalLake(root=str(lake_root))
    tables = LakeTables(lake, lake_catalog(lake_root))
    staged = tables.stage(location, run_id)
    folder = Path(lake.uri(staged))
    folder.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, folder / "part-00000.snappy.parquet", compression="snappy")
    published = tables.publish(
        name, location, staged, Build(run_id=run_id, rows=table.num_rows, rejected_rows=rejected_rows, source=source)
    )
    assert published.snapshot is not None
    return published.snapshot


def write_csv(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(",".join(row) for row in [header, *rows]) + "\n", encoding="utf-8")
    return path


def sales_row(day: str, stage: str, forecast: str, weighted: str = "0") -> list[str]:
    """One opportunity in the QuickSight layout; only the columns the transform reads vary."""
    return [day, "Avery Quinn", "US_SMB_1", "SMB", "US", day, forecast, stage, weighted, "FALSE", "FALSE", "TRUE"]


def marketing_row(day: str, value: int, events: str = "") -> list[str]:
    return [day, *[str(value + i) for i in range(len(MARKETING_HEADER) - 2)], events]


__all__ = [
    "MARKETING_HEADER",
    "created_instance_home",
    "current_files",
    "iceberg_table",
    "lake_catalog",
    "publish_parquet",
    "QUICKSIGHT_MARKETING",
    "QUICKSIGHT_SALES",
    "SALES_HEADER",
    "marketing_row",
    "sales_row",
    "table_resources",
    "write_csv",
]


def third_input(name: str, **fields: object) -> InputDataset:
    """A third input dataset for graph tests: ``<name>/`` lands into ``<name>_daily``, built by an
    existing script unless ``fields`` say otherwise."""
    defaults: dict[str, object] = {
        "landing_prefix": f"{name}/",
        "script": "process_sales_data.py",
        "output_table": f"{name}_daily",
        "description": f"{name} per day.",
        "columns": (("Date", "date"),),
    }
    return InputDataset(name=name, **{**defaults, **fields})


def still_running(process: psutil.Process) -> bool:
    """Whether ``process`` runs (an exited one whose parent has not reaped it does not)."""
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def stand_in_scripts(folder: Path, **scripts: str) -> Path:
    """A scripts folder for the local runner: the given scripts (name -> source, without ``.py``)
    beside the real shared modules they import."""
    for name, source in scripts.items():
        (folder / f"{name}.py").write_text(textwrap.dedent(source))
    for shared in SHARED_SCRIPTS:
        (folder / shared).write_bytes((GLUE_SCRIPTS_DIR / shared).read_bytes())
    return folder


@contextmanager
def open_folder() -> Iterator[Path]:
    """A temporary folder anyone may enter: as root, the production mode's PostgreSQL runs as an
    account of its own, which cannot enter pytest's own temporary folders."""
    folder = Path(tempfile.mkdtemp(prefix="etl-open-"))
    folder.chmod(0o755)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


# A job executed in process, as the demo and `dagster asset materialize` execute theirs: its one step
# takes a slot of the pool given and waits until it is killed.
_POOL_HOLDER = """
import sys, time
import dagster as dg

@dg.asset(pool=sys.argv[2])
def holder():
    time.sleep(600)

job = dg.Definitions(assets=[holder]).resolve_implicit_global_asset_job_def()
with dg.DagsterInstance.from_config(sys.argv[1]) as instance:
    job.execute_in_process(instance=instance)
"""


def claimed(instance: dg.DagsterInstance, pool: str) -> set[str]:
    """The runs holding a slot of ``pool``."""
    return {slot.run_id for slot in instance.event_log_storage.get_concurrency_info(pool).claimed_slots}


def pool_holder(home: Path, pool: str) -> subprocess.Popen:
    """A process (in a session of its own) running a job in process whose step takes (or waits for)
    a slot of ``pool`` in the instance at ``home``, then sleeps."""
    return subprocess.Popen([sys.executable, "-c", _POOL_HOLDER, str(home), pool], start_new_session=True)


def holding_pool(home: Path, pool: str) -> tuple[subprocess.Popen, dg.DagsterRun]:
    """A ``pool_holder`` once its run holds the slot; and that run."""
    holder = pool_holder(home, pool)
    with dg.DagsterInstance.from_config(str(home)) as instance:
        deadline = time.monotonic() + 120
        while not claimed(instance, pool):
            assert holder.poll() is None and time.monotonic() < deadline, "the holder never took the pool slot"
            time.sleep(0.2)
        (run,) = [run for run in instance.get_runs() if run.run_id in claimed(instance, pool)]
    return holder, run
