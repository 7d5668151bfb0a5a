"""Thresholds of the checks, from the settings (``etl_platform.settings``).

How many rejected landing rows a dataset tolerates is not here: it is a property of the dataset's
source, declared in the registry (``InputDataset.max_reject_share``, none by default), so no
global setting can let a money file lose rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from etl_platform.settings import get_settings


@dataclass(frozen=True)
class QualitySettings:
    max_row_count_change: float = 0.5  # advisory: share of rows gained or lost versus the last build
    max_date_gap_days: int = 7  # advisory: longest stretch without a row
    earliest_date: date = date(1990, 1, 1)  # blocking: no date before this ...
    future_days: int = 366  # ... or more than this many days after today

    @classmethod
    def from_env(cls) -> QualitySettings:
        settings = get_settings()
        return cls(
            max_row_count_change=settings.check_max_row_count_change,
            max_date_gap_days=settings.check_max_date_gap_days,
        )

    def latest_date(self) -> date:
        return date.today() + timedelta(days=self.future_days)
