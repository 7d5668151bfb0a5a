"""The weekly schedule: the whole pipeline, once per cycle."""

import os
from datetime import UTC, datetime

import dagster as dg

from etl_platform.automation.cadence import Cycle
from etl_platform.automation.schedule import weekly_schedule
from etl_platform.datasets import REGISTRY, SALES
from etl_platform.definitions import build_definitions, defs
from etl_platform.jobs import pipeline_job
from etl_platform.quarantine import quarantine
from etl_platform.resources import LocalLake
from etl_platform_tests.assets.fake_runner import RecordingRunner, ScriptCalls
from etl_platform_tests.helpers import table_resources, write_csv


def test_one_run_per_cycle_keyed_by_the_cycle_start() -> None:
    schedule = weekly_schedule(Cycle(), pipeline_job(REGISTRY))
    monday = datetime(2026, 11, 23, tzinfo=UTC)
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


def test_the_weekly_run_builds_from_the_newest_file_that_is_not_quarantined(tmp_path) -> None:
    good = write_csv(tmp_path / "landing" / "sales" / "week1.csv", ["Date"], [["1/1/2016"]])
    bad = write_csv(tmp_path / "landing" / "sales" / "week2.csv", ["Date"], [["1/2/2016"]])
    os.utime(good, (100, 100))
    os.utime(bad, (200, 200))
    lake = LocalLake(root=str(tmp_path))
    quarantine(lake, SALES, lake.stat("landing/sales/week2.csv"), "run-1", "the file is empty (0 bytes)")
    script_calls = ScriptCalls()
    defs = build_definitions(REGISTRY, table_resources(tmp_path, RecordingRunner(record=script_calls)))
    schedule = defs.resolve_schedule_def("weekly_pipeline_schedule")
    with dg.instance_for_test() as instance:
        request = schedule(
            dg.build_schedule_context(instance=instance, scheduled_execution_time=datetime(2026, 11, 23, tzinfo=UTC))
        )
        job = defs.resolve_job_def(schedule.job_name)
        result = job.execute_in_process(
            run_config=request.run_config,
            tags=request.tags,
            instance=instance,
            asset_selection=[dg.AssetKey("sales_daily")],
        )
    assert result.success
    assert script_calls.calls[-1][1]["input_path"] == str(good)
    (materialization,) = result.asset_materializations_for_node("sales_daily")
    assert [skipped["object"] for skipped in materialization.metadata["source_skipped"].value] == [
        "landing/sales/week2.csv"
    ]
