"""The cycle: cron and time zone from the environment, cycle starts, length, freshness."""

from datetime import timedelta

import pytest

from etl_platform.automation.cadence import Cycle


def test_default_cycle_is_weekly_monday_midnight_utc(monkeypatch) -> None:
    monkeypatch.delenv("ETL_CYCLE_CRON", raising=False)
    monkeypatch.delenv("ETL_CYCLE_TIMEZONE", raising=False)
    cycle = Cycle.from_env()
    assert (cycle.cron, cycle.timezone, cycle.length()) == ("0 0 * * 1", "UTC", timedelta(days=7))


def test_cycle_from_environment(monkeypatch) -> None:
    monkeypatch.setenv("ETL_CYCLE_CRON", "0 6 * * *")
    monkeypatch.setenv("ETL_CYCLE_TIMEZONE", "Europe/Paris")
    cycle = Cycle.from_env()
    assert cycle.length() == timedelta(days=1)
    policy = cycle.freshness_policy()
    assert (policy.deadline_cron, policy.timezone, policy.lower_bound_delta) == (
        "0 6 * * *",
        "Europe/Paris",
        timedelta(days=1),
    )


def test_invalid_cron_is_named() -> None:
    with pytest.raises(ValueError, match="ETL_CYCLE_CRON='every monday' is not a valid cron"):
        Cycle(cron="every monday")
