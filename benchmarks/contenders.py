"""The floors, each in a process of its own so its time includes its start and its memory is its own.

* ``cat``: reading the input bytes, nothing else (the physical floor; from the page cache when
  the files were read recently, as they are for every contender here);
* ``duckdb``: the same tables with DuckDB SQL (``benchmarks/duckdb_job.py``);
* ``bare_spark``: the same transforms as one PySpark script, SparkSession start included
  (``benchmarks/bare_spark.py``).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.inputs import Inputs
from benchmarks.outputs import describe_tables
from benchmarks.rss import PeakRss
from etl_platform.datasets import REGISTRY
from etl_platform.project import PROJECT_ROOT
from etl_platform.settings import subprocess_environment

TABLES = [*(d.output_table for d in REGISTRY.inputs), REGISTRY.joined.name]


def run_process(command: list[str], log: Path) -> tuple[float, PeakRss]:
    """Seconds from start to exit, and the peak RSS of the process tree meanwhile."""
    env = subprocess_environment(SPARK_LOCAL_IP="127.0.0.1")
    with open(log, "ab") as out:
        started = time.perf_counter()
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, cwd=PROJECT_ROOT, env=env)
        try:
            with PeakRss(process.pid, include_root=True) as peak:
                code = process.wait()
        except BaseException:  # interrupted: leave no JVM behind
            process.kill()
            process.wait()
            raise
        seconds = time.perf_counter() - started
    if code != 0:
        raise RuntimeError(f"{' '.join(command[:3])} ... exited with {code}; see {log}")
    return seconds, peak


def cat(inputs: Inputs, work_dir: Path, log: Path) -> dict:
    command = ["sh", "-c", 'cat "$0" "$1" > /dev/null', str(inputs.sales_path), str(inputs.marketing_path)]
    seconds, peak = run_process(command, log)
    return {"seconds": seconds, "peak_rss_bytes": peak.bytes, "peak_rss_by_process": peak.breakdown}


def python_job(module: str, inputs: Inputs, work_dir: Path, log: Path, layout: str) -> dict:
    """Run ``python -m <module> --sales --marketing --out`` into a temporary folder and describe what it wrote."""
    out = Path(tempfile.mkdtemp(prefix=module.rsplit(".", 1)[-1] + "-", dir=work_dir))
    try:
        command = [
            sys.executable,
            "-m",
            module,
            "--sales",
            str(inputs.sales_path),
            "--marketing",
            str(inputs.marketing_path),
            "--out",
            str(out),
        ]
        seconds, peak = run_process(command, log)
        outputs = describe_tables({table: out / layout.format(table=table) for table in TABLES})
    finally:
        shutil.rmtree(out, ignore_errors=True)
    return {"seconds": seconds, "peak_rss_bytes": peak.bytes, "peak_rss_by_process": peak.breakdown, "outputs": outputs}


def duckdb(inputs: Inputs, work_dir: Path, log: Path) -> dict:
    return python_job("benchmarks.duckdb_job", inputs, work_dir, log, "{table}.parquet")


def bare_spark(inputs: Inputs, work_dir: Path, log: Path) -> dict:
    return python_job("benchmarks.bare_spark", inputs, work_dir, log, "{table}")
