"""What a contender wrote: rows, Parquet files and compression per output table.

Read from Parquet footers with pyarrow, outside any timed section. Row counts let the harness
check that every contender computed the same tables; file counts and codecs check the
"at most two Parquet files per table, compressed" target.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq


def parquet_files(location: Path) -> list[Path]:
    """Data files of a table: ``*.parquet`` directly in its folder (what the catalog's view reads),
    or the location itself when it is one file. Hidden and marker files are not data."""
    if location.is_file():
        return [location]
    return sorted(p for p in location.glob("*.parquet") if not p.name.startswith((".", "_")))


def codecs(path: Path) -> set[str]:
    metadata = pq.ParquetFile(path).metadata
    return {
        metadata.row_group(g).column(c).compression
        for g in range(metadata.num_row_groups)
        for c in range(metadata.num_columns)
    }


def describe_table(location: Path | str) -> dict:
    """Rows, files, bytes and codecs of one table stored at ``location``."""
    files = parquet_files(Path(location))
    found: set[str] = set()
    for file in files:
        found |= codecs(file)
    return {
        "location": str(location),
        "rows": sum(pq.ParquetFile(f).metadata.num_rows for f in files),
        "parquet_files": len(files),
        "bytes": sum(f.stat().st_size for f in files),
        "codecs": sorted(found),
    }


def describe_tables(locations: dict[str, Path | str]) -> dict[str, dict]:
    return {name: describe_table(location) for name, location in sorted(locations.items())}
