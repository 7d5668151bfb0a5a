"""The sensor that ends runs whose process is gone, whatever started Dagster here.

``make dev``, ``make serve`` and a plain ``dagster-daemon`` all run the daemon's sensor loop: each
tick fails the in-process runs whose process was killed and frees their pool slots
(``etl_platform.orphans``), so a build waiting for such a run's table goes on by itself. It also
writes into a build waiting for a pool which runs hold it, once per change, so the waiting run's
log says what it waits for.
"""

from __future__ import annotations

import json

import dagster as dg

from etl_platform.orphans import reap_orphaned_runs

INTERVAL_SECONDS = 10


def waiting_builds(instance: dg.DagsterInstance) -> dict[str, str]:
    """Waiting run id:step -> who holds the pool it waits for, as one line each."""
    storage = instance.event_log_storage
    if not storage.supports_global_concurrency_limits:
        return {}
    lines = {}
    for pool, info in storage.get_concurrency_infos(sorted(storage.get_concurrency_keys())).items():
        holders = sorted({slot.run_id for slot in info.claimed_slots})
        for step in info.pending_steps:
            if step.assigned_timestamp is None and holders:
                lines[f"{step.run_id}:{step.step_key}"] = (
                    f"{step.step_key} waits for pool {pool}, held by run {', '.join(holders)}"
                )
    return lines


@dg.sensor(
    name="orphaned_runs_sensor",
    minimum_interval_seconds=INTERVAL_SECONDS,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Fails the runs executed in process whose process is gone (killed) and frees their "
    f"pool slots; says in a waiting build's log which run holds its pool. Every {INTERVAL_SECONDS} s.",
)
def orphaned_runs_sensor(context: dg.SensorEvaluationContext) -> dg.SkipReason:
    instance = context.instance
    orphans = reap_orphaned_runs(instance)
    for orphan in orphans:
        context.log.warning(orphan.reason)
    told = json.loads(context.cursor) if context.cursor else {}
    waiting = waiting_builds(instance)
    for key, line in waiting.items():
        run = instance.get_run_by_id(key.split(":", 1)[0])
        if told.get(key) != line and run is not None and not run.is_finished:
            instance.report_engine_event(line, run)
    context.update_cursor(json.dumps(waiting))
    return dg.SkipReason(f"{len(orphans)} orphaned run(s) failed; {len(waiting)} step(s) waiting for a pool")
