"""Runs every contender at every scale, several times, interleaved, and keeps every figure.

Repetitions interleave the contenders (cat, DuckDB, bare Spark, platform, ...; then again) so a
burst of load from other work on the machine spreads over all of them instead of one. The
daemon's contender (``platform_daemon``, ``benchmarks/daemon_runs.py``) runs at 1x only; the test
suite (``--suite``, ``benchmarks/suite.py``) after everything else.
"""

from __future__ import annotations

import dataclasses
import os
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks import contenders, daemon_runs, platform_runs, suite
from benchmarks.inputs import Inputs, ensure_inputs, scale_label
from benchmarks.rss import PeakRss
from etl_platform.settings import get_settings
from etl_platform.spark_service import address, spark_connect_server

ALL_CONTENDERS = ("cat", "duckdb", "bare_spark", "platform", "platform_latency", "platform_daemon")
# Measured in this process, on a Spark Connect server of the harness's (``--one-server``: shared).
IN_PROCESS_PLATFORM = ("platform", "platform_latency")


@dataclass(frozen=True)
class Settings:
    scales: list[float]
    repeat: int
    cache_dir: Path
    work_dir: Path
    log: Path
    contenders: tuple[str, ...] = ALL_CONTENDERS
    tick_objects: int = 10_000
    # One Spark Connect server for the whole run, shared by every platform measurement (its URL
    # in ``spark_remote`` while the run lasts), instead of one started per measurement.
    one_server: bool = False
    spark_remote: str | None = None
    # After everything else, the project's test suite, timed (benchmarks/suite.py).
    suite: bool = False
    # Variables the harness set for itself, left out of the suite's environment.
    suite_unset: tuple[str, ...] = ()


def say(message: str) -> None:
    print(message, file=sys.__stdout__, flush=True)


@contextmanager
def quiet(log: Path) -> Iterator[None]:
    """Send this process's stdout and stderr (Dagster's and Spark's chatter, the Spark scripts
    inherit them) to the log file for the block; the summary table stays readable."""
    sys.stdout.flush(), sys.stderr.flush()
    saved = {fd: os.dup(fd) for fd in (1, 2)}
    with open(log, "ab") as out:
        for fd in saved:
            os.dup2(out.fileno(), fd)
        try:
            yield
        finally:
            sys.stdout.flush(), sys.stderr.flush()
            for fd, copy in saved.items():
                os.dup2(copy, fd)
                os.close(copy)


def measure_platform(kind: str, inputs: Inputs, settings: Settings) -> dict:
    """One platform measurement on a fresh lake, instance and Spark Connect server (or the run's one
    server); RSS over this process and its descendants, the server's JVM among them."""
    action = platform_runs.whole_graph if kind == "platform" else platform_runs.sensor_to_published
    with quiet(settings.log), platform_runs.fresh_platform(settings.work_dir, remote=settings.spark_remote) as platform:
        with PeakRss() as peak:
            result = action(platform, inputs)
    return {**result, "peak_rss_bytes": peak.bytes, "peak_rss_by_process": peak.breakdown}


def measure_daemon(inputs: Inputs, settings: Settings) -> dict:
    """``dagster dev`` as ``make dev`` runs it (its own Spark server): a cold then a warm cycle."""
    with quiet(settings.log):
        return daemon_runs.measure(inputs, settings.work_dir, settings.log)


def measure(name: str, inputs: Inputs, settings: Settings) -> dict:
    if name == "platform_daemon":
        return measure_daemon(inputs, settings)
    if name in IN_PROCESS_PLATFORM:
        return measure_platform(name, inputs, settings)
    run: Callable[[Inputs, Path, Path], dict] = getattr(contenders, name)
    return run(inputs, settings.work_dir, settings.log)


def attempt(name: str, inputs: Inputs, settings: Settings) -> dict:
    """A failed measurement is recorded with its error (and left out of the medians), not fatal."""
    try:
        return measure(name, inputs, settings)
    except Exception as error:  # noqa: BLE001 - any failure is a result to report
        with open(settings.log, "a") as log:
            traceback.print_exc(file=log)
        return {"error": f"{type(error).__name__}: {str(error).strip().splitlines()[0] if str(error).strip() else ''}"}


def measured_at(name: str, scale: float) -> bool:
    """The daemon's latency is measured at 1x only; every other contender at every scale."""
    return daemon_runs.applies(scale) if name == "platform_daemon" else True


def outcome(result: dict) -> str:
    if "error" in result:
        return result["error"]
    if "cold_seconds" in result:
        return f"cold {result['cold_seconds']:.2f} s, warm {result['warm_seconds']:.2f} s"
    return f"{result['seconds']:.2f} s"


def run_scale(scale: float, settings: Settings) -> dict:
    """Inputs (cached), then ``repeat`` rounds of every contender measured at that scale."""
    say(f"[{scale_label(scale)}] inputs in {settings.cache_dir}")
    inputs = ensure_inputs(settings.cache_dir, scale)
    say(f"[{scale_label(scale)}] {inputs.rows:,} rows, {inputs.bytes / 1e6:,.1f} MB of CSV")
    names = [name for name in settings.contenders if measured_at(name, scale)]
    runs: dict[str, list[dict]] = {name: [] for name in names}
    for round_ in range(1, settings.repeat + 1):
        for name in names:
            started = time.perf_counter()
            result = attempt(name, inputs, settings)
            runs[name].append(result)
            say(
                f"[{scale_label(scale)}] round {round_}/{settings.repeat} {name}: {outcome(result)} "
                f"({time.perf_counter() - started:.0f} s with setup)"
            )
    return {"scale": scale, "label": scale_label(scale), "inputs": inputs.to_json(), "runs": runs}


def run_sensor_tick(settings: Settings) -> list[dict]:
    results = []
    for _ in range(settings.repeat):
        try:
            with quiet(settings.log):
                results.append(platform_runs.sensor_tick(settings.work_dir, settings.tick_objects))
        except Exception as error:  # noqa: BLE001
            results.append({"error": f"{type(error).__name__}: {error}"})
    say(
        f"sensor tick over {settings.tick_objects:,} objects: "
        + ", ".join(r.get("error") or f"{r['seconds']:.3f} s" for r in results)
    )
    return results


@contextmanager
def shared_server(settings: Settings) -> Iterator[Settings]:
    """The settings, with the URL of a server started for the whole run when it has ``one_server``
    and measures the platform (its start then counts in no measurement); stopped at the end."""
    if not settings.one_server or not any(name in IN_PROCESS_PLATFORM for name in settings.contenders):
        yield settings
        return
    spark = get_settings()
    with spark_connect_server(spark.spark_master, spark.spark_driver_memory) as remote:
        say(f"one Spark Connect server for every platform measurement: {address(remote)}")
        yield dataclasses.replace(settings, spark_remote=remote)


def run_suite(settings: Settings) -> dict:
    say(f"test suite: python {' '.join(suite.COMMAND)} (output in {settings.log})")
    result = suite.run_suite(settings.log, settings.suite_unset)
    counts = ", ".join(f"{result[key]} {key}" for key in suite.COUNTS if result.get(key))
    say(
        f"test suite: {result['seconds'] / 60:.1f} min, {counts or 'no counts'}"
        + (f"; {result['error']}" if "error" in result else "")
    )
    return result


def run_all(settings: Settings) -> dict:
    settings.work_dir.mkdir(parents=True, exist_ok=True)
    with shared_server(settings) as shared:
        raw: dict[str, Any] = {
            # A scale none of the contenders is measured at (the daemon's alone, above 1x) is skipped.
            "scales": [
                run_scale(scale, shared)
                for scale in shared.scales
                if any(measured_at(name, scale) for name in shared.contenders)
            ],
            "sensor_tick_runs": run_sensor_tick(shared) if shared.tick_objects > 0 else [],
        }
    # After the shared server (if any) has stopped: the suite has the machine to itself.
    raw["suite"] = run_suite(settings) if settings.suite else None
    return raw
