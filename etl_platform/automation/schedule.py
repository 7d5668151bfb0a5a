"""The weekly run: the whole pipeline on the newest landed files, once per cycle, even with sensors off."""

from __future__ import annotations

from typing import Any

import dagster as dg

from etl_platform.automation.cadence import Cycle


def weekly_schedule(cycle: Cycle, job: Any) -> dg.ScheduleDefinition:
    """Runs ``job``, the pipeline job, at each cycle start."""

    @dg.schedule(
        name="weekly_pipeline_schedule",
        cron_schedule=cycle.cron,
        execution_timezone=cycle.timezone,
        target=job,
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description="Processes the newest file of every input and rebuilds the joined table once per cycle.",
    )
    def _schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
        cycle_start = context.scheduled_execution_time.isoformat()
        return dg.RunRequest(run_key=f"cycle-{cycle_start}", tags={"etl_platform/cycle": cycle_start})

    return _schedule
