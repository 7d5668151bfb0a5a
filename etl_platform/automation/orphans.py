"""The sensor that ends runs whose process is gone, whatever started Dagster here.

``make dev``, ``make serve`` and a plain ``dagster-daemon`` all run the daemon's sensor loop: each
tick fails the in-process runs whose process was killed and frees their pool slots
(``etl_platform.orphans``), so a build waiting for such a run's table goes on by itself. It also
writes into a build waiting for a pool which runs hold it (``announce_waits``), so the waiting run's
log says what it waits for.
"""

from __future__ import annotations

import dagster as dg

from etl_platform.orphans import announce_waits, reap_orphaned_runs

INTERVAL_SECONDS = 10


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
    told = announce_waits(instance)
    return dg.SkipReason(
        f"{len(orphans)} orphaned run(s) failed; told {len(told)} waiting step(s) who holds their pool"
    )
