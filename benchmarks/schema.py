"""The registry's declared types for a CSV file, in the file's header order.

Both floors (bare Spark, DuckDB) read with an explicit schema instead of the platform's
all-strings read and parse pass: a CSV schema is positional, so it follows the header, and keeps
the header's exact names (``Mailing list adds `` with its space) so the readers find no mismatch.
Columns the registry does not declare are strings, as the platform keeps them.
"""

from __future__ import annotations

from pathlib import Path

from etl_platform.contract.columns import normalize_column_name
from etl_platform.datasets import InputDataset


def header(path: Path) -> list[str]:
    with open(path, encoding="utf-8") as f:
        return f.readline().rstrip("\r\n").split(",")


def typed_header(path: Path, dataset: InputDataset) -> list[tuple[str, str]]:
    """``[(raw column name, registry type)]`` for each column of the file, in order."""
    declared = {normalize_column_name(name): type_ for name, type_ in dataset.columns}
    return [(raw, declared.get(normalize_column_name(raw), "string")) for raw in header(path)]
