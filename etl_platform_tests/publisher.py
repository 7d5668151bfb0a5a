"""One publishing process of ``test_concurrent_publish``: ``python -m etl_platform_tests.publisher SPEC``.

SPEC is a JSON file: the lake (``{"root": ...}`` or ``{"bucket", "endpoint_url", "region_name"}``),
the catalog (``{"uri", "warehouse"}`` or ``{"region_name", "endpoint_url"}``), the table's name and
location, this publisher's ``name``, a ``barrier`` folder, and its ``rounds``: for each, the rows of
its build and the landing object it was built from.

Each round, like a real run, the process stages a build of its own (two Parquet files whose rows
name the build), then says it is ready (``ready-<round>-<name>``) and waits for the test's
``go-<round>`` file, so that every publisher calls ``publish`` at the same moment. What ``publish``
returned is written to ``result-<round>-<name>.json`` (an exception is written there too, then
raised).
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from etl_platform.resources.catalog import BuildSource, GlueTableCatalog, SqlTableCatalog, TableCatalog
from etl_platform.resources.lake import Lake, LocalLake
from etl_platform.tables import Build, LakeTables

GO_TIMEOUT_SECONDS = 120.0


def open_lake(spec: dict[str, Any]) -> Lake:
    if "root" in spec:
        return LocalLake(root=spec["root"])
    from dagster_aws.s3 import S3Resource

    from etl_platform.resources.s3_lake import S3Lake

    return S3Lake(
        bucket=spec["bucket"], s3=S3Resource(region_name=spec["region_name"], endpoint_url=spec["endpoint_url"])
    )


def open_catalog(spec: dict[str, Any]) -> TableCatalog:
    if "uri" in spec:
        return SqlTableCatalog(uri=spec["uri"], warehouse=spec["warehouse"])
    return GlueTableCatalog(region_name=spec["region_name"], endpoint_url=spec["endpoint_url"])


def build_label(name: str, round_number: int) -> str:
    """What every row of a build says it belongs to: readers check a table never mixes two."""
    return f"{name}-round{round_number}"


def uploader(lake: Lake) -> Callable[[Path, str], object]:
    """How a build's files get into the lake: one S3 client for all of them (``S3Lake.put_file``
    makes two clients a file, seconds of CPU over a test on a busy machine)."""
    if isinstance(lake, LocalLake):
        return lake.put_file
    client = lake.s3.get_client()  # type: ignore[attr-defined]
    return lambda local, key: client.upload_file(str(local), lake.bucket, lake.prefix + key)  # type: ignore[attr-defined]


def write_build(
    put: Callable[[Path, str], object], tables: LakeTables, location: str, label: str, rows: int, scratch: Path
) -> str:
    """Stage a build: ``rows`` rows in two Parquet files, as a Spark job would leave them."""
    build_key = tables.stage(location, label)
    cut = rows // 2
    for part, numbers in enumerate((range(cut), range(cut, rows))):
        local = scratch / f"{label}-{part}.parquet"
        pq.write_table(pa.table({"build": [label] * len(numbers), "n": list(numbers)}), local)
        put(local, f"{build_key}/part-{part:05d}.parquet")
    return build_key


def wait_for(path: Path) -> None:
    deadline = time.monotonic() + GO_TIMEOUT_SECONDS
    while not path.exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{path} never appeared")
        time.sleep(0.001)


def run(spec: dict[str, Any]) -> None:
    lake, catalog = open_lake(spec["lake"]), open_catalog(spec["catalog"])
    tables, put = LakeTables(lake, catalog), uploader(lake)
    barrier, name = Path(spec["barrier"]), spec["name"]
    with tempfile.TemporaryDirectory() as scratch:
        for number, round_spec in enumerate(spec["rounds"]):
            label = build_label(name, number)
            build_key = write_build(put, tables, spec["location"], label, round_spec["rows"], Path(scratch))
            files = tables.staged_files(spec["location"], build_key)
            source = BuildSource(**round_spec["source"])
            (barrier / f"ready-{number}-{name}").touch()
            wait_for(barrier / f"go-{number}")
            result: dict[str, Any] = {
                "round": number,
                "name": name,
                "label": label,
                "build_key": build_key,
                "files": files,
            }
            started = time.monotonic()
            try:
                published = tables.publish(
                    spec["table"],
                    spec["location"],
                    build_key,
                    Build(run_id=label, rows=round_spec["rows"], source=source),
                )
            except Exception:
                result["error"] = traceback.format_exc()
                (barrier / f"result-{number}-{name}.json").write_text(json.dumps(result))
                raise
            result |= {
                "attempts": published.attempts,
                "seconds": round(time.monotonic() - started, 3),
                "committed": published.snapshot.snapshot_id if published.snapshot else None,
                "committed_build_key": published.snapshot.build_key if published.snapshot else None,
                "stale_against": published.stale_against.snapshot_id if published.stale_against else None,
            }
            (barrier / f"result-{number}-{name}.json").write_text(json.dumps(result))


if __name__ == "__main__":
    run(json.loads(Path(sys.argv[1]).read_text()))
