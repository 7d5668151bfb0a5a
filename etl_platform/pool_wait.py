"""A run executed in process that waits for a pool slot: without a busy loop, and stopped by SIGTERM.

Dagster 1.13's in-process executor (``dagster asset materialize``, ``make materialize``, the runs
of sensors, each run's worker under ``make dev`` and ``make serve``) waits for a pool slot in its
step loop, ``ActiveExecution.sleep_til_ready``, which never sleeps while a claim is pending
(``InstanceConcurrencyContext.interval_to_next_pending_claim_check`` returns ``min([0, ...])``,
at most 0): the wait takes a whole core. Nor does the loop look at Ctrl-C or SIGTERM, which
Dagster only records in the main thread until a step runs: a build waiting for a table stopped
only on SIGKILL. No public API reaches that loop, so this module, alone in the project, replaces
that one method of Dagster's internals: while a claim is pending it sleeps a little, and on a
recorded interrupt, or once its run is canceling, it raises Dagster's own ``DagsterExecutionInterruptedError``, which ends the
run as an interrupt does within a step (failed, or canceled if asked) and releases its place in
the pool's line. Every few seconds of waiting it also fails the runs whose process is gone
(``etl_platform.orphans``), so a plain ``dagster asset materialize`` does not wait for a killed
build's slot for good, and says in the run's log (on its console too) which run holds the slot. ``etl_platform_tests/test_pool_wait.py`` pins what this relies on.
"""

from __future__ import annotations

import sys
import time
from typing import Any

from dagster import DagsterRunStatus
from dagster._core.errors import DagsterExecutionInterruptedError
from dagster._core.execution.plan.active import ActiveExecution
from dagster._utils.interrupts import pop_captured_interrupt

from etl_platform.orphans import announce_waits, reap_orphaned_runs

CLAIM_POLL_SECONDS = 0.5  # Dagster re-asks for a slot each second or more: no claim waits longer
REAP_SECONDS = 5.0  # how often a waiting build looks for killed runs
_DAGSTER_SLEEP_TIL_READY = ActiveExecution.sleep_til_ready


def _canceling(context: Any) -> bool:
    """The run was asked to stop (the UI's Terminate, a demo interrupted while its run executes in
    a thread of its own, where no signal reaches the executor)."""
    run = context._instance.get_run_by_id(context._run_id)
    return run is not None and run.status in (DagsterRunStatus.CANCELING, DagsterRunStatus.CANCELED)


def _sleep_til_ready(self: Any) -> None:
    _DAGSTER_SLEEP_TIL_READY(self)
    context = self._instance_concurrency_context
    if context is None or not context.has_pending_claims():
        return
    if pop_captured_interrupt() or _canceling(context):
        raise DagsterExecutionInterruptedError()
    now = time.monotonic()
    if now >= getattr(self, "_etl_next_reap", 0.0):
        self._etl_next_reap = now + REAP_SECONDS
        reap_orphaned_runs(context._instance)
        for line in announce_waits(context._instance, context._run_id):  # the run's log names the holder
            print(line, file=sys.stderr, flush=True)  # and so does the console of whoever started it
    time.sleep(CLAIM_POLL_SECONDS)


def install() -> None:
    """Use this wait in every in-process execution of this process (idempotent)."""
    ActiveExecution.sleep_til_ready = _sleep_til_ready  # type: ignore[method-assign]
