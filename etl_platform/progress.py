"""A short progress display for a run executing in this process: one line per step as it ends.

The lines are read back from the instance, where the run's full event log stays (``dagster dev``
shows it), so the display needs nothing added to the job and shows only what Dagster recorded.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import TextIO

import dagster as dg

from etl_platform.orphans import pool_holders

E = dg.DagsterEventType
FOLLOWED = {
    E.STEP_START,
    E.STEP_RESTARTED,
    E.STEP_SUCCESS,
    E.STEP_FAILURE,
    E.STEP_UP_FOR_RETRY,
    E.STEP_SKIPPED,
    E.ASSET_CHECK_EVALUATION,
    E.ENGINE_EVENT,  # among them, a step's "blocked by limit for pool"
}
ENDINGS = {E.STEP_SUCCESS: "ok", E.STEP_FAILURE: "failed", E.STEP_UP_FOR_RETRY: "retry", E.STEP_SKIPPED: "skipped"}
POLL_SECONDS = 0.2  # how often the run's new events are read


class StepLines:
    """Turns a run's step events into lines: step, outcome, seconds since the step (re)started,
    and the checks that did not pass (an advisory one fails without failing its step); and, once,
    that a step waits for its table's pool, with the runs ``holders`` says hold it."""

    def __init__(self, steps: Sequence[str], holders: Callable[[str], list[str]] = lambda pool: []) -> None:
        self._holders = holders
        self._waiting: set[str] = set()
        self._steps = list(steps)
        self._width = max(map(len, self._steps), default=0)
        self._started: dict[str, float] = {}
        self._failed_checks: dict[str, list[str]] = {}
        self._ended: set[str] = set()

    def add(self, entries: Iterable[dg.EventLogEntry]) -> list[str]:
        lines = []
        for entry in entries:
            event, step = entry.dagster_event, entry.step_key
            if event is None or step is None:
                continue
            if event.event_type == E.ENGINE_EVENT:
                lines += self._blocked(step, event)
            elif event.event_type in (E.STEP_START, E.STEP_RESTARTED):
                self._started[step] = entry.timestamp
                self._failed_checks[step] = []
            elif event.event_type == E.ASSET_CHECK_EVALUATION:
                evaluation = event.asset_check_evaluation_data
                if not evaluation.passed:
                    self._failed_checks.setdefault(step, []).append(evaluation.check_name)
            elif event.event_type in ENDINGS:
                started = self._started.get(step)
                elapsed = f"{entry.timestamp - started:6.1f} s" if started is not None else ""
                failed = self._failed_checks.get(step)
                note = f"  (checks not passed: {', '.join(failed)})" if failed else ""
                lines.append(f"  {step:<{self._width}}  {ENDINGS[event.event_type]:<7} {elapsed}{note}".rstrip())
                if event.event_type != E.STEP_UP_FOR_RETRY:
                    self._ended.add(step)
        return lines

    def _blocked(self, step: str, event: dg.DagsterEvent) -> list[str]:
        pool = event.engine_event_data.metadata.get("pool") if event.engine_event_data else None
        if pool is None or step in self._waiting:
            return []
        self._waiting.add(step)
        holders = self._holders(str(pool.value))
        held = f", held by run {', '.join(holders)}" if holders else ""
        return [f"  {step:<{self._width}}  waiting for pool {pool.value}{held}"]

    def unfinished(self) -> list[str]:
        """Steps with no final outcome: never run (an upstream step failed) or stopped midway."""
        return [
            f"  {step:<{self._width}}  {'stopped' if step in self._started else 'not run'}"
            for step in self._steps
            if step not in self._ended
        ]


@contextmanager
def step_progress(instance: dg.DagsterInstance, run_id: str, steps: Sequence[str]) -> Iterator[None]:
    """Print a line per step of run ``run_id`` while the body executes it, then one per step left.

    The run's events are followed from a thread because ``execute_in_process`` needs the main
    thread (it installs signal handlers). The lines go to a duplicate of standard output's
    descriptor taken now: while steps execute, Dagster points descriptors 1 and 2 at the run's
    captured log file (echoing it with ``tail``), which is no place for them and may drop the
    last lines.
    """
    out = sys.stdout
    out.flush()
    try:
        terminal: TextIO = os.fdopen(os.dup(out.fileno()), "w", buffering=1)
    except (AttributeError, OSError, ValueError):  # not backed by a descriptor (e.g. a test's capture)
        terminal = out
    lines = StepLines(steps, lambda pool: pool_holders(instance, [pool], run_id).get(pool, []))
    cursor: str | None = None
    stop = threading.Event()

    def show_new_events() -> None:
        nonlocal cursor
        if cursor is None and not instance.has_run(run_id):
            return  # not created yet; reading its events now would create an empty event log for it
        connection = instance.get_records_for_run(run_id, cursor=cursor, of_type=FOLLOWED)
        cursor = connection.cursor
        for line in lines.add(record.event_log_entry for record in connection.records):
            print(line, file=terminal, flush=True)

    def follow() -> None:
        while not stop.wait(POLL_SECONDS):
            show_new_events()

    follower = threading.Thread(target=follow, name=f"progress-{run_id}", daemon=True)
    follower.start()
    try:
        yield
    finally:
        stop.set()
        follower.join()
        show_new_events()  # what arrived since the last poll
        for line in lines.unfinished():
            print(line, file=terminal, flush=True)
        if terminal is not out:
            terminal.close()
