"""The weekly cycle: one cron (and time zone) defines it for the barrier, schedule and freshness."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import dagster as dg
from croniter import croniter

from etl_platform.settings import get_settings


@dataclass(frozen=True)
class Cycle:
    cron: str = "0 0 * * 1"
    timezone: str = "UTC"

    def __post_init__(self) -> None:
        if not croniter.is_valid(self.cron) or len(self.cron.split()) != 5:
            raise ValueError(f"ETL_CYCLE_CRON={self.cron!r} is not a valid cron expression (five fields)")

    @classmethod
    def from_env(cls) -> Cycle:
        """``ETL_CYCLE_CRON`` (default Monday 00:00) and ``ETL_CYCLE_TIMEZONE`` (default UTC)."""
        settings = get_settings()
        return cls(cron=settings.cycle_cron, timezone=settings.cycle_timezone)

    def length(self) -> timedelta:
        """Time between two consecutive cycle starts (a week by default)."""
        ticks = croniter(self.cron, datetime(2026, 1, 5, tzinfo=ZoneInfo(self.timezone)))
        first = ticks.get_next(datetime)
        return ticks.get_next(datetime) - first

    def freshness_policy(self) -> dg.FreshnessPolicy:
        """An input is late when it has not been processed within the cycle before each cycle start."""
        return dg.FreshnessPolicy.cron(deadline_cron=self.cron, lower_bound_delta=self.length(), timezone=self.timezone)
