"""Runs whose process is gone: failed with the reason, and their pool slots freed.

A run executed in process (``etl-platform demo``, ``make materialize``, ``dagster asset
materialize``) has no run launcher, so Dagster's run monitoring cannot tell that its process died:
killed mid-step, the run stays STARTED and keeps its table's pool slot, and every later build of
that table waits for it for good. Every Dagster event records the pid of the process that wrote
it, so a run's own process is known (its RUN_START event's); when that process no longer exists
on this machine, the run is failed here and its slots freed. Runs a launcher started (the daemon's,
the UI's) are run monitoring's, and left alone.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import dagster as dg

S = dg.DagsterRunStatus
UNFINISHED = [S.STARTING, S.STARTED, S.CANCELING]
# /proc gives a process's start to the clock tick and the boot time to the second: a process that
# started up to this long after its run's start may still be the one that ran it.
START_TOLERANCE_SECONDS = 2.0
LOCAL_HOSTS = {"", "localhost", "127.0.0.1", "::1"}


def process_started_at(pid: int) -> float | None:
    """When process ``pid`` started (seconds since the epoch); None if it does not run (a zombie,
    killed and not yet waited for, does not). Where there is no ``/proc`` (macOS), a live process
    counts as started at 0, since it cannot be told apart from a later one of the same pid.

    Read from ``/proc`` rather than with psutil: the code location loads this module, and psutil is
    the local tooling's (the Spark server's), which the code location does not import."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        if Path("/proc/self/stat").exists():
            return None
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            pass
        return 0.0
    fields = stat.rsplit(")", 1)[1].split()  # after the command's name, which may hold spaces
    if fields[0] in ("Z", "X"):  # the state: zombie or dead
        return None
    boot = next(
        int(line.split()[1]) for line in Path("/proc/stat").read_text().splitlines() if line.startswith("btime")
    )
    return boot + int(fields[19]) / os.sysconf("SC_CLK_TCK")  # field 22, the start in ticks since boot


def process_gone(pid: int, run_started: float) -> bool:
    """Whether the process ``pid`` that started a run at ``run_started`` has ended: no such
    process, or one that started after the run (the pid was reused)."""
    started = process_started_at(pid)
    return started is None or started > run_started + START_TOLERANCE_SECONDS


def runs_on_this_machine(instance: dg.DagsterInstance) -> bool:
    """Whether the instance's in-process runs ran on this machine: its run storage is a SQLite
    file, or a PostgreSQL server on this machine (``make serve``'s). A shared server elsewhere
    (AWS's) may hold in-process runs of other machines, whose pids mean nothing here."""
    storage = instance.run_storage
    # Dagster has no public way to say where a storage lives: its attributes tell.
    url = getattr(storage, "postgres_url", None) or getattr(storage, "mysql_url", None)
    if url is None:
        return type(storage).__name__.startswith("Sqlite")
    return (urlparse(url).hostname or "") in LOCAL_HOSTS


@dataclass(frozen=True)
class Orphan:
    """A run executed in process here whose process ``pid`` is gone."""

    run: dg.DagsterRun
    pid: int

    @property
    def reason(self) -> str:
        return (
            f"run {self.run.run_id} ({self.run.job_name}) failed: the process {self.pid} that ran it on this "
            "machine is gone (killed?); its pool slots are freed"
        )


def _run_process(instance: dg.DagsterInstance, run_id: str) -> tuple[int, float] | None:
    """The pid of the process that started the run, and when; None before it started."""
    records = instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.RUN_START, limit=1).records
    if not records:
        return None
    entry = records[0].event_log_entry
    pid = entry.dagster_event.pid if entry.dagster_event else None
    return (pid, entry.timestamp) if pid else None


def _candidates(instance: dg.DagsterInstance) -> Iterator[dg.DagsterRun]:
    """Unfinished runs, and finished ones still holding pool slots (a process that ended before
    its executor let them go)."""
    unfinished = instance.get_runs(filters=dg.RunsFilter(statuses=UNFINISHED))
    yield from unfinished
    storage = instance.event_log_storage
    if storage.supports_global_concurrency_limits:
        holding = storage.get_concurrency_run_ids() - {run.run_id for run in unfinished}
        if holding:
            yield from instance.get_runs(filters=dg.RunsFilter(run_ids=sorted(holding)))


def find_orphans(instance: dg.DagsterInstance) -> list[Orphan]:
    """Runs executed in process on this machine (no launcher's origin) whose process is gone."""
    if not runs_on_this_machine(instance):
        return []
    orphans = []
    for run in _candidates(instance):
        if run.remote_job_origin is not None:  # a launcher started it: run monitoring watches it
            continue
        process = _run_process(instance, run.run_id)
        if process is not None and process_gone(*process):
            orphans.append(Orphan(run, process[0]))
    return orphans


def reap_orphaned_runs(instance: dg.DagsterInstance) -> list[Orphan]:
    """Fail every orphaned run with its reason and free the pool slots it holds or waits for; the
    runs reaped."""
    orphans = find_orphans(instance)
    for orphan in orphans:
        current = instance.get_run_by_id(orphan.run.run_id)
        if current is not None and not current.is_finished:
            instance.report_run_failed(current, message=orphan.reason)
        if instance.event_log_storage.supports_global_concurrency_limits:
            instance.event_log_storage.free_concurrency_slots_for_run(orphan.run.run_id)
    return orphans


def pool_holders(instance: dg.DagsterInstance, pools: Iterable[str], waiting_run_id: str) -> dict[str, list[str]]:
    """Pool -> the runs (other than ``waiting_run_id``) holding its slots, for saying who a build waits for."""
    storage = instance.event_log_storage
    if not storage.supports_global_concurrency_limits:
        return {}
    infos = storage.get_concurrency_infos(sorted(set(pools)))
    return {
        pool: sorted({slot.run_id for slot in info.claimed_slots} - {waiting_run_id}) for pool, info in infos.items()
    }


def reap_and_say(instance: dg.DagsterInstance, say: Callable[[str], object] = print) -> list[Orphan]:
    """``reap_orphaned_runs``, saying each run reaped in one line: what an entry point calls first."""
    orphans = reap_orphaned_runs(instance)
    for orphan in orphans:
        say(orphan.reason)
    return orphans


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


def announce_waits(instance: dg.DagsterInstance, run_id: str | None = None) -> list[str]:
    """Say in each waiting build's log (only ``run_id``'s, if given) which runs hold the pool it
    waits for, once: the run's own log tells whether it was said, whoever said it (the daemon's
    sensor, or the waiting build itself). The lines said now."""
    told = []
    for key, line in waiting_builds(instance).items():
        waiting_run_id = key.split(":", 1)[0]
        if run_id is not None and waiting_run_id != run_id:
            continue
        run = instance.get_run_by_id(waiting_run_id)
        if run is None or run.is_finished:
            continue
        said = instance.get_records_for_run(waiting_run_id, of_type=dg.DagsterEventType.ENGINE_EVENT).records
        if all(record.event_log_entry.message != line for record in said):
            instance.report_engine_event(line, run)
            told.append(line)
    return told
