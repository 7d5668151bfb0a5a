"""The weekly schedule: the whole pipeline, once per cycle."""

from datetime import datetime, timezone

import dagster as dg

from etl_platform.automation.cadence import Cycle
from etl_platform.automation.schedule import weekly_schedule
from etl_platform.datasets import REGISTRY
from etl_platform.definitions import defs
from etl_platform.jobs import pipeline_job


def test_one_run_per_cycle_keyed_by_the_cycle_start() -> None:
    schedule = weekly_schedule(Cycle(), pipeline_job(REGISTRY))
    monday = datetime(2026, 11, 23, tzinfo=timezone.utc)
    with dg.instance_for_test() as instance:
        request = schedule(dg.build_schedule_context(instance=instance, scheduled_execution_time=monday))
    assert request.run_key == "cycle-2026-11-23T00:00:00+00:00"
    assert request.run_config == {}  # no object named: every processed asset takes its newest file
    assert schedule.cron_schedule == "0 0 * * 1" and schedule.execution_timezone == "UTC"


def test_sensors_schedule_and_automation_start_running() -> None:
    for sensor in defs.sensors:
        assert sensor.default_status == dg.DefaultSensorStatus.RUNNING, sensor.name
    for schedule in defs.schedules:
        assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING, schedule.name
    assert defs.resolve_schedule_def("weekly_pipeline_schedule").job_name == "etl_pipeline_job"
