"""Runs whose process is gone: a real process runs a job in process, holding a table's pool slot,
and is killed; what reaps it (the entry points' call, the sensor) fails the run and frees the slot."""

from __future__ import annotations

import os
import shutil
import signal
import time
from pathlib import Path
from types import SimpleNamespace

import dagster as dg
import pytest

from etl_platform import instance as instance_module
from etl_platform.automation.orphans import orphaned_runs_sensor
from etl_platform.instance import DEPLOY_DIR, ensure_instance
from etl_platform.orphans import (
    find_orphans,
    process_gone,
    process_started_at,
    reap_orphaned_runs,
    runs_on_this_machine,
)
from etl_platform.postgres_service import local_postgres
from etl_platform.spark_service import free_port
from etl_platform_tests.helpers import claimed, created_instance_home, holding_pool, pool_holder

POOL = "table_example"


def _killed_holder(home: Path) -> tuple[dg.DagsterRun, int]:
    """A run whose process held the pool's slot mid-step and was killed with SIGKILL (its group too)."""
    holder, run = holding_pool(home, POOL)
    os.killpg(holder.pid, signal.SIGKILL)
    holder.wait()
    return run, holder.pid


@pytest.fixture
def home(tmp_path) -> Path:
    """A Dagster home with the project's settings (a pool limit of one per table)."""
    return created_instance_home(ensure_instance(tmp_path / "home"))


def test_a_killed_in_process_run_is_failed_with_its_reason_and_its_slot_freed(home) -> None:
    run, pid = _killed_holder(home)
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert instance.get_run_by_id(run.run_id).status == dg.DagsterRunStatus.STARTED
        assert claimed(instance, POOL) == {run.run_id}
        (orphan,) = reap_orphaned_runs(instance)
        assert orphan.run.run_id == run.run_id and orphan.pid == pid
        assert instance.get_run_by_id(run.run_id).status == dg.DagsterRunStatus.FAILURE
        failure = instance.get_records_for_run(run.run_id, of_type=dg.DagsterEventType.RUN_FAILURE).records
        assert f"the process {pid} that ran it on this machine is gone (killed?)" in failure[0].event_log_entry.message
        assert claimed(instance, POOL) == set()
        assert instance.event_log_storage.get_concurrency_run_ids() == set()
        assert reap_orphaned_runs(instance) == []  # once


def test_the_sensor_reaps_at_its_tick(home) -> None:
    run, _ = _killed_holder(home)
    with dg.DagsterInstance.from_config(str(home)) as instance:
        result = orphaned_runs_sensor(dg.build_sensor_context(instance=instance))
        assert "1 orphaned run(s) failed" in str(result.skip_message)
        assert instance.get_run_by_id(run.run_id).status == dg.DagsterRunStatus.FAILURE
        assert claimed(instance, POOL) == set()


def test_a_live_run_is_left_alone_and_a_reused_pid_is_not_the_runs(home) -> None:
    """The run's own process, alive, is never reaped; a process of the same pid that started after
    the run is another one."""
    holder, run = holding_pool(home, POOL)
    try:
        with dg.DagsterInstance.from_config(str(home)) as instance:
            assert reap_orphaned_runs(instance) == []
            assert instance.get_run_by_id(run.run_id).status == dg.DagsterRunStatus.STARTED
            assert claimed(instance, POOL) == {run.run_id}
    finally:
        os.killpg(holder.pid, signal.SIGKILL)
        holder.wait()
    started = process_started_at(os.getpid())
    assert started is not None and started <= time.time()
    assert not process_gone(os.getpid(), run_started=time.time())
    assert process_gone(os.getpid(), run_started=started - 60)


def test_the_instance_command_run_before_make_dev_and_materialize_reaps(home, monkeypatch, tmp_path, capsys) -> None:
    run, pid = _killed_holder(home)
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    monkeypatch.setattr(instance_module, "ensure_dotenv", lambda home: tmp_path / ".env")  # not the project's
    assert instance_module.main([]) == 0
    assert f"run {run.run_id} (__ASSET_JOB) failed: the process {pid} " in capsys.readouterr().out
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert instance.get_run_by_id(run.run_id).status == dg.DagsterRunStatus.FAILURE
        assert claimed(instance, POOL) == set()


def test_the_sensor_says_in_a_waiting_runs_log_which_run_holds_its_pool_once(home) -> None:
    holder, held = holding_pool(home, POOL)
    waiter = pool_holder(home, POOL)
    try:
        with dg.DagsterInstance.from_config(str(home)) as instance:
            deadline, waiting = time.monotonic() + 120, []
            while not waiting:
                assert waiter.poll() is None and time.monotonic() < deadline, "the second run never waited"
                time.sleep(0.2)
                in_line = instance.event_log_storage.get_concurrency_run_ids() - {held.run_id}
                waiting = [run for run in instance.get_runs() if run.run_id in in_line]
            (run,) = waiting
            context = dg.build_sensor_context(instance=instance)
            for _ in range(2):  # the context keeps the cursor between ticks, as the daemon does
                orphaned_runs_sensor(context)
            said = [
                record.event_log_entry.message
                for record in instance.get_records_for_run(run.run_id, of_type=dg.DagsterEventType.ENGINE_EVENT).records
                if "held by run" in record.event_log_entry.message
            ]
            assert said == [f"holder waits for pool {POOL}, held by run {held.run_id}"]
    finally:
        for process in (holder, waiter):
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def test_only_an_instance_whose_storage_is_on_this_machine_is_looked_at(home, open_folder, monkeypatch) -> None:
    """SQLite, or `make serve`'s PostgreSQL on this machine; not a database elsewhere, whose
    in-process runs may be other machines'."""
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert runs_on_this_machine(instance)
    with local_postgres(open_folder / "pg", free_port()) as server:
        for name, value in server.connection.environment().items():
            monkeypatch.setenv(name, value)
        served = open_folder / "served"
        served.mkdir()
        shutil.copy(DEPLOY_DIR / "dagster.yaml", served / "dagster.yaml")
        with dg.DagsterInstance.from_config(str(served)) as instance:
            assert runs_on_this_machine(instance)
    elsewhere = SimpleNamespace(
        run_storage=SimpleNamespace(postgres_url="postgresql://u:p@db.example.com:5432/dagster")
    )
    assert not runs_on_this_machine(elsewhere)  # type: ignore[arg-type]
    assert find_orphans(elsewhere) == []  # type: ignore[arg-type]
