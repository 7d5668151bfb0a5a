"""A build executed in process that waits for its table's pool slot stops on SIGTERM (and does not
spin meanwhile): ``etl_platform.pool_wait`` replaces one method of Dagster's internals, and these
tests pin what it relies on."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import dagster as dg
from dagster._core.execution.plan.active import ActiveExecution
from dagster._core.execution.plan.instance_concurrency_context import InstanceConcurrencyContext

import etl_platform.definitions  # noqa: F401  # loading the code location installs the wait
from etl_platform import pool_wait
from etl_platform.instance import ensure_instance
from etl_platform_tests.helpers import created_instance_home, holding_pool

BIN = Path(sys.executable).parent
POOL = "table_sales_daily"


def test_dagsters_wait_for_a_pending_claim_would_not_sleep(tmp_path) -> None:
    """Why the wait is replaced: with a claim pending, Dagster's interval to the next check is
    never above 0, so its step loop does not sleep. When this fails, Dagster sleeps by itself and
    ``pool_wait`` can sleep less."""
    home = created_instance_home(ensure_instance(tmp_path / "home"))
    with dg.DagsterInstance.from_config(str(home)) as instance:
        runs = [dg.DagsterRun(job_name="build", run_id=str(uuid.uuid4())) for _ in range(2)]
        with (
            InstanceConcurrencyContext(instance, runs[0]) as first,
            InstanceConcurrencyContext(instance, runs[1]) as second,
        ):
            assert first.claim(POOL, "sales_daily") and not second.claim(POOL, "sales_daily")
            assert second.has_pending_claims() and second.interval_to_next_pending_claim_check() <= 0
    assert ActiveExecution.sleep_til_ready is pool_wait._sleep_til_ready


def test_a_materialize_waiting_for_its_tables_slot_names_the_holder_and_stops_on_sigterm(tmp_path) -> None:
    home = created_instance_home(ensure_instance(tmp_path / "home"))
    holder, held = holding_pool(home, POOL)
    env = {**os.environ, "ETL_LAKE_ROOT": str(tmp_path / "lake"), "DAGSTER_HOME": str(home)}
    env.pop("ETL_PLATFORM_ENV", None)
    try:
        build = subprocess.Popen(
            [str(BIN / "dagster"), "asset", "materialize", "-m", "etl_platform.definitions", "--select", "sales_daily"],
            env=env,
            cwd=tmp_path,  # not the project's folder, whose .env names the project's instance
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        with dg.DagsterInstance.from_config(str(home)) as instance:
            deadline, waiting = time.monotonic() + 120, set()
            while not waiting:
                assert build.poll() is None and time.monotonic() < deadline, "the build never waited for the slot"
                time.sleep(0.2)
                waiting = instance.event_log_storage.get_concurrency_run_ids() - {held.run_id}
            (run_id,) = waiting
            said = f"sales_daily waits for pool {POOL}, held by run {held.run_id}"
            while not any(
                record.event_log_entry.message == said
                for record in instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.ENGINE_EVENT).records
            ):  # no daemon runs here: the waiting build says it itself
                assert build.poll() is None and time.monotonic() < deadline, "the build never said who holds the slot"
                time.sleep(0.2)
            build.send_signal(signal.SIGTERM)
            _, err = build.communicate(timeout=120)
            assert build.returncode != 0, err[-2000:]
            assert said in err  # on the console of whoever started it
            assert instance.get_run_by_id(run_id).status == dg.DagsterRunStatus.FAILURE
            assert instance.event_log_storage.get_concurrency_run_ids() == {held.run_id}  # out of the line
    finally:
        os.killpg(holder.pid, signal.SIGKILL)
        holder.wait()
