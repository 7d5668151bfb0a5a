"""The platform itself, through Dagster, with its normal local resources against a temporary lake.

Three measurements, each on a fresh lake and a fresh real (SQLite) ``DagsterInstance``:

* **whole graph**: the Spark Connect server started, both files landed (not timed), then
  ``etl_pipeline_job`` executed in process until it returns: three Spark steps, their checks,
  publishing and the catalog. The server's start counts, as bare Spark's JVM start does. Right
  after it, a **warm re-run**: ``sales_daily`` materialised again on the same instance, lake and server.
* **sensor to published**: the daemon's work without its polling intervals, with the server up
  (as under ``make dev``, which starts it with the daemon). Timed from the moment landing
  starts: land both files, one tick of each arrival sensor, the runs they request, one
  automation-condition evaluation (the join barrier), the run it requests, until the catalog has
  the joined table (its ``built_at``). In production add up to one sensor interval (30 s) and one
  automation interval (30 s) of waiting.
* **sensor tick** over a landing prefix holding 10,000 objects.

Spark runs as the local profile runs it under ``make dev``: a Spark Connect server
(``etl_platform.spark_service``) started for each measurement and stopped after it, which every
step uses (``ETL_SPARK_REMOTE``); with ``--one-server``, one server started before the first
measurement serves them all and no measurement includes its start. The harness points
``ETL_LAKE_ROOT`` at the temporary platform and calls ``local_resources()``.
"""

from __future__ import annotations

import shutil
import statistics
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dagster as dg

from benchmarks.inputs import Inputs
from benchmarks.outputs import describe_table
from etl_platform.automation.arrival import ArrivalCursor
from etl_platform.datasets import REGISTRY
from etl_platform.definitions import build_definitions
from etl_platform.environment import local_resources
from etl_platform.settings import exported, get_settings
from etl_platform.spark_service import spark_connect_server

QUIET_LOGS = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
INPUT_FILES = {"sales": "sales_path", "marketing": "marketing_path"}


@dataclass
class Platform:
    """One fresh lake and instance, the definitions built over them, and how long their Spark
    Connect server took to start (None without one)."""

    lake_root: Path
    defs: dg.Definitions
    instance: dg.DagsterInstance
    spark_start_seconds: float | None = None
    sensor_cursors: dict[str, str | None] = field(default_factory=dict)
    automation_cursor: Any = None  # Dagster's automation cursor (its type is not exported)

    @property
    def lake(self):
        return (self.defs.resources or {})["lake"]

    @property
    def catalog(self):
        return (self.defs.resources or {})["catalog"]


@contextmanager
def fresh_platform(work_dir: Path, spark: bool = True, remote: str | None = None) -> Iterator[Platform]:
    """A new lake folder and Dagster instance under ``work_dir``, removed afterwards, and (``spark``)
    a Spark Connect server started for them with the local settings, stopped afterwards; or, given
    ``remote``, that running server's URL (no start to time)."""
    root = Path(tempfile.mkdtemp(prefix="platform-", dir=work_dir))
    lake_root, home = root / "lake", root / "dagster_home"
    lake_root.mkdir()
    home.mkdir()
    variables = {"ETL_LAKE_ROOT": str(lake_root), "ETL_ALERTS_FILE": str(root / "alerts.jsonl")}
    with ExitStack() as stack:
        stack.callback(shutil.rmtree, root, ignore_errors=True)
        spark_start_seconds = None
        if spark and remote:
            variables["ETL_SPARK_REMOTE"] = remote
        elif spark:
            settings, started = get_settings(), time.perf_counter()
            server = spark_connect_server(settings.spark_master, settings.spark_driver_memory)
            variables["ETL_SPARK_REMOTE"] = stack.enter_context(server)
            spark_start_seconds = time.perf_counter() - started
        stack.enter_context(exported(**variables))
        defs = build_definitions(REGISTRY, local_resources())
        instance = stack.enter_context(
            dg.DagsterInstance.local_temp(str(home), overrides={"telemetry": {"enabled": False}})
        )
        yield Platform(lake_root, defs, instance, spark_start_seconds)


def land(platform: Platform, inputs: Inputs) -> None:
    """What ``etl-platform land`` does: an atomic copy into each dataset's landing prefix."""
    for dataset in REGISTRY.inputs:
        source = Path(getattr(inputs, INPUT_FILES[dataset.name]))
        platform.lake.put_file(source, dataset.landing_key_prefix + source.name)


def failure_message(result: dg.ExecuteInProcessResult) -> str:
    messages = [e.event_specific_data.error.message.strip() for e in result.get_step_failure_events()]  # type: ignore[union-attr]
    return f"run {result.run_id} failed: {' | '.join(messages) or 'no step failure recorded'}"


def execute(platform: Platform, job_name: str | None = None, **kwargs) -> dg.ExecuteInProcessResult:
    """Execute in process on the platform's instance, logging only warnings; raise on failure."""
    job = platform.defs.resolve_job_def(job_name) if job_name else platform.defs.resolve_implicit_global_asset_job_def()
    run_config = {**kwargs.pop("run_config", {}), **QUIET_LOGS}
    result = job.execute_in_process(instance=platform.instance, run_config=run_config, raise_on_error=False, **kwargs)
    if not result.success:
        raise RuntimeError(failure_message(result))
    return result


def published_tables(platform: Platform) -> dict:
    """The catalog's view of the registry's tables (their current snapshots' build folders, what a
    query reads), rows and files checked.

    Other tables the platform publishes (an insight report built by automation after the join) are
    not the transforms being compared, so they are left out.
    """
    wanted = {*(d.output_table for d in REGISTRY.inputs), REGISTRY.joined.name}
    return {
        info.name: {
            **describe_table(platform.lake.uri(info.build_key)),
            "catalog_rows": info.row_count,
            "built_at": info.built_at,
        }
        for info in platform.catalog.infos()
        if info.name in wanted
    }


def run_profile(platform: Platform, run_id: str) -> dict:
    """Where a run's time went: seconds per step (Dagster's step stats)."""
    steps = {
        stat.step_key: round(stat.end_time - stat.start_time, 3)
        for stat in platform.instance.get_run_step_stats(run_id)
        if stat.start_time and stat.end_time
    }
    return {"steps": steps, "server_start_seconds": None}


def timed_run(platform: Platform, *args, **kwargs) -> tuple[float, dict]:
    started = time.perf_counter()
    result = execute(platform, *args, **kwargs)
    return time.perf_counter() - started, run_profile(platform, result.run_id)


def timed(action, *args, **kwargs) -> float:
    started = time.perf_counter()
    action(*args, **kwargs)
    return time.perf_counter() - started


# The warm re-run target is about small inputs (start-up costs); above this scale it would add
# minutes per repetition to re-measure the sales step already inside the whole graph.
RERUN_MAX_SCALE = 100


def whole_graph(platform: Platform, inputs: Inputs) -> dict:
    """The server's start and ``etl_pipeline_job`` on landed files, then (up to ``RERUN_MAX_SCALE``) a
    warm re-run of ``sales_daily``."""
    land(platform, inputs)
    seconds, profile = timed_run(platform, "etl_pipeline_job")
    profile["server_start_seconds"] = platform.spark_start_seconds
    result = {
        "seconds": seconds + (platform.spark_start_seconds or 0),
        "profile": profile,
        "outputs": published_tables(platform),
    }
    if inputs.scale <= RERUN_MAX_SCALE:
        rerun = timed_run(platform, "etl_pipeline_job", asset_selection=[dg.AssetKey("sales_daily")])
        result["warm_rerun_seconds"], result["warm_rerun_profile"] = rerun
    return result


def arrival_tick(platform: Platform, dataset_name: str) -> list[dg.RunRequest]:
    """One tick of a dataset's arrival sensor, its cursor carried over as the daemon does."""
    sensor = platform.defs.resolve_sensor_def(f"{dataset_name}_arrival_sensor")
    context = dg.build_sensor_context(
        instance=platform.instance, cursor=platform.sensor_cursors.get(sensor.name), resources={"lake": platform.lake}
    )
    result = sensor(context)
    if not isinstance(result, dg.SensorResult):
        platform.sensor_cursors[sensor.name] = context.cursor  # a skip still moves the cursor
        return []
    platform.sensor_cursors[sensor.name] = result.cursor
    return list(result.run_requests or [])


def arrival_ticks(platform: Platform) -> list[dg.RunRequest]:
    return [request for dataset in REGISTRY.inputs for request in arrival_tick(platform, dataset.name)]


def automation_tick(platform: Platform) -> list[dg.AssetKey]:
    """What the automation sensor would request this tick (one run for all of it)."""
    result = dg.evaluate_automation_conditions(
        defs=platform.defs, instance=platform.instance, cursor=platform.automation_cursor
    )
    platform.automation_cursor = result.cursor
    return sorted(k for k in platform.defs.resolve_asset_graph().get_all_asset_keys() if result.get_num_requested(k))


def execute_request(platform: Platform, request: dg.RunRequest) -> dg.ExecuteInProcessResult:
    return execute(platform, run_config=request.run_config, asset_selection=request.asset_selection, tags=request.tags)


def sensor_to_published(platform: Platform, inputs: Inputs) -> dict:
    """Land, tick, run, evaluate the barrier, run the join: seconds per phase and in total."""
    joined = REGISTRY.joined.name
    if automation_tick(platform) or arrival_ticks(platform):  # the daemon ran before files landed
        raise RuntimeError("the platform requested runs before any file landed")
    phases: dict[str, float] = {}
    started_wall, started = time.time(), time.perf_counter()
    phases["land"] = timed(land, platform, inputs)
    clock = time.perf_counter()
    requests = arrival_ticks(platform)
    phases["arrival_sensor_ticks"] = time.perf_counter() - clock
    phases["processed_runs"] = timed(lambda: [execute_request(platform, r) for r in requests])
    clock = time.perf_counter()
    requested = automation_tick(platform)
    phases["automation_tick"] = time.perf_counter() - clock
    if dg.AssetKey(joined) not in requested:
        raise RuntimeError(f"the join barrier did not request {joined} (requested: {requested})")
    phases["join_run"] = timed(execute_request, platform, dg.RunRequest(asset_selection=requested))
    ended = time.perf_counter()
    outputs = published_tables(platform)
    return {
        "seconds": outputs[joined]["built_at"] - started_wall,  # published: the catalog's entry
        "seconds_until_runs_done": ended - started,
        "phases": phases,
        "runs_requested": [sorted(k.to_user_string() for k in r.asset_selection or []) for r in requests],
        "automation_requested": [k.to_user_string() for k in requested],
        "outputs": outputs,
    }


def sensor_tick(work_dir: Path, objects: int = 10_000) -> dict:
    """Arrival-sensor evaluations over a prefix of ``objects`` small CSVs: a whole listing pass
    (one bounded page per tick), then a tick of the next pass, where nothing is new."""
    dataset = REGISTRY.inputs[0]
    sensor = f"{dataset.name}_arrival_sensor"
    with fresh_platform(work_dir, spark=False) as platform:
        folder = platform.lake_root / dataset.landing_key_prefix
        folder.mkdir(parents=True)
        for i in range(objects):
            (folder / f"export-{i:06d}.csv").write_text("Date\n1/1/2016\n")
        pass_ticks: list[float] = []
        while not pass_ticks or ArrivalCursor.parse(platform.sensor_cursors[sensor]).start_after:
            pass_ticks.append(timed(arrival_tick, platform, dataset.name))
        steady = timed(arrival_tick, platform, dataset.name)
    return {
        "objects": objects,
        "ticks_per_pass": len(pass_ticks),
        "first_tick_seconds": pass_ticks[0],
        "max_tick_seconds": max(pass_ticks),
        "median_tick_seconds": statistics.median(pass_ticks),
        "next_pass_tick_seconds": steady,
        "seconds": max(max(pass_ticks), steady),
    }
