"""The weekly cycle: one cron (and time zone) defines it for the barrier, schedule and freshness."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime, timedelta

import dagster as dg
from dagster._utils.schedules import cron_string_iterator, is_valid_cron_string, reverse_cron_string_iterator


@dataclass(frozen=True)
class Cycle:
    cron: str = "0 0 * * 1"
    timezone: str = "UTC"

    def __post_init__(self) -> None:
        if not is_valid_cron_string(self.cron):
            raise ValueError(f"ETL_CYCLE_CRON={self.cron!r} is not a valid cron expression")

    @classmethod
    def from_env(cls) -> Cycle:
        """``ETL_CYCLE_CRON`` (default Monday 00:00) and ``ETL_CYCLE_TIMEZONE`` (default UTC)."""
        return cls(
            cron=os.environ.get("ETL_CYCLE_CRON") or cls.cron,
            timezone=os.environ.get("ETL_CYCLE_TIMEZONE") or cls.timezone,
        )

    def start_of(self, moment: datetime) -> datetime:
        """The latest cycle start at or before ``moment``."""
        return next(reverse_cron_string_iterator(moment.timestamp(), self.cron, self.timezone))

    def length(self) -> timedelta:
        """Time between two consecutive cycle starts (a week by default)."""
        ticks = cron_string_iterator(datetime(2026, 1, 5).timestamp(), self.cron, self.timezone)
        first = next(ticks)
        return next(ticks) - first

    def freshness_policy(self) -> dg.FreshnessPolicy:
        """An input is late when it has not been processed within the cycle before each cycle start."""
        return dg.FreshnessPolicy.cron(deadline_cron=self.cron, lower_bound_delta=self.length(), timezone=self.timezone)
