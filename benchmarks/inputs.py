"""Synthetic inputs at N times the QuickSight sample sizes, generated once into a cache folder.

``etl_platform.samples.generate(scale=N)`` multiplies the marketing file's *days* as well as the
rows, so at 100x its dates would run two centuries ahead and fail the platform's blocking
``date_valid`` check. The harness therefore drives the same generator (``sales_rows``,
``marketing_rows``, ``write_csv``) with the QuickSight files' date spans held fixed and only the
sales rows multiplied: 1x is 20,994 opportunities over 2,036 days plus 1,461 marketing days (the
QuickSight files), 500x is about 10.5 million opportunities (~1 GB of CSV) over the same days.
"""

from __future__ import annotations

import json
import random
import shutil
import time
from dataclasses import asdict, dataclass
from datetime import date, timedelta
from pathlib import Path

from etl_platform import samples

# The QuickSight files: SalesPipeline (20,994 rows, 2,036 distinct days up to 2016-12-31) and
# MarketingData (1,461 days, 2013-01-01 .. 2016-12-31).
QUICKSIGHT_SALES_ROWS = 20_994
SALES_DAYS = 2_036
MARKETING_DAYS = 1_461
MARKETING_START = date(2013, 1, 1)
SALES_START = MARKETING_START + timedelta(days=MARKETING_DAYS - SALES_DAYS)  # both end 2016-12-31
SALES_FILE = "sales/sales.csv"
MARKETING_FILE = "marketing/marketing.csv"
MANIFEST = "manifest.json"
GENERATOR_VERSION = 1  # bump when the composition below changes, to invalidate caches


@dataclass(frozen=True)
class Inputs:
    """One scale's two CSV files and what they hold."""

    scale: float
    folder: str
    sales_rows: int
    marketing_rows: int
    sales_bytes: int
    marketing_bytes: int
    generation_seconds: float
    generator_version: int = GENERATOR_VERSION
    seed: int = samples.SAMPLE_SEED

    @property
    def sales_path(self) -> Path:
        return Path(self.folder) / SALES_FILE

    @property
    def marketing_path(self) -> Path:
        return Path(self.folder) / MARKETING_FILE

    @property
    def rows(self) -> int:
        return self.sales_rows + self.marketing_rows

    @property
    def bytes(self) -> int:
        return self.sales_bytes + self.marketing_bytes

    def to_json(self) -> dict:
        return {
            **asdict(self),
            "rows": self.rows,
            "bytes": self.bytes,
            "sales_path": str(self.sales_path),
            "marketing_path": str(self.marketing_path),
        }


def scale_label(scale: float) -> str:
    """``1`` -> ``1x``, ``0.05`` -> ``0.05x``: folder names and table rows."""
    return f"{scale:g}x"


def _cached(folder: Path, scale: float, seed: int) -> Inputs | None:
    try:
        data = json.loads((folder / MANIFEST).read_text())
        found = Inputs(**{key: value for key, value in data.items() if key in Inputs.__dataclass_fields__})
    except (OSError, ValueError, TypeError):
        return None
    same = (found.scale, found.seed, found.generator_version) == (scale, seed, GENERATOR_VERSION)
    present = found.sales_path.is_file() and found.marketing_path.is_file()
    sizes_match = present and (found.sales_path.stat().st_size, found.marketing_path.stat().st_size) == (
        found.sales_bytes,
        found.marketing_bytes,
    )
    return found if same and sizes_match else None


def _generate(folder: Path, scale: float, seed: int) -> Inputs:
    """Write both files into a fresh folder; the manifest goes last, so a crash is never reused."""
    shutil.rmtree(folder, ignore_errors=True)
    started = time.perf_counter()
    sales_rows = samples.write_csv(
        folder / SALES_FILE,
        samples.SALES_HEADER,
        samples.sales_rows(random.Random(seed), SALES_START, SALES_DAYS, round(QUICKSIGHT_SALES_ROWS * scale)),
    )
    marketing_rows = samples.write_csv(
        folder / MARKETING_FILE,
        samples.MARKETING_HEADER,
        samples.marketing_rows(random.Random(seed + 1), MARKETING_START, MARKETING_DAYS),
    )
    inputs = Inputs(
        scale=scale,
        folder=str(folder),
        sales_rows=sales_rows,
        marketing_rows=marketing_rows,
        sales_bytes=(folder / SALES_FILE).stat().st_size,
        marketing_bytes=(folder / MARKETING_FILE).stat().st_size,
        generation_seconds=round(time.perf_counter() - started, 3),
        seed=seed,
    )
    data = asdict(inputs)
    (folder / MANIFEST).write_text(json.dumps(data, indent=2))
    return inputs


def ensure_inputs(cache_dir: Path, scale: float, seed: int = samples.SAMPLE_SEED) -> Inputs:
    """The inputs for ``scale``: from the cache when a complete, matching set is there."""
    folder = (cache_dir / scale_label(scale)).resolve()
    return _cached(folder, scale, seed) or _generate(folder, scale, seed)
