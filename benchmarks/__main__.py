"""``python -m benchmarks``: measure the platform against its floors and print the targets.

    python -m benchmarks --scales 1,100,500 --repeat 3 --suite --out benchmarks/results/run.json

Inputs are generated once per scale into ``--cache-dir`` and reused. Everything else (lakes,
Dagster instances, outputs) lives in a temporary ``--work-dir`` and is removed. Dagster's and
Spark's logs go to the ``.log`` file next to the JSON.

``platform_daemon`` (1x only) starts ``dagster dev`` as ``make dev`` does and times landing ->
joined table published, its sensors' and automation's intervals included (the settings in
effect, never overridden here), from cold and then warm. ``--suite`` then runs the project's
test suite (``python -m pytest -n 2 --dist loadfile -q -p no:cacheprovider``, about 9 minutes),
its output to the log, for the "test suite <= 8 min" target (a run with failures is a MISS).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

# A transient Spark failure must show as a failed measurement, not as a silent 15 s+ retry
# back-off inside a timed run. Set before the asset definitions (and their retry policy) load;
# the test suite (--suite) runs without it, as `make test` does, unless it was set already.
HARNESS_VARIABLES = () if "ETL_SPARK_RETRIES" in os.environ else ("ETL_SPARK_RETRIES",)
os.environ.setdefault("ETL_SPARK_RETRIES", "0")

from benchmarks import report  # noqa: E402
from benchmarks.machine import load_average, machine_info  # noqa: E402
from benchmarks.runner import ALL_CONTENDERS, Settings, run_all, say  # noqa: E402
from etl_platform.settings import get_settings  # noqa: E402

RESULTS_DIR = Path(__file__).resolve().parent / "results"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description=__doc__.split("\n\n")[0],
        epilog=__doc__.split("\n\n", 2)[2],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--scales", default="1,100,500", help="comma-separated multiples of the QuickSight sizes")
    parser.add_argument("--repeat", type=int, default=3, help="repetitions per contender and scale (medians)")
    parser.add_argument("--out", type=Path, help="JSON results (default: benchmarks/results/bench-<time>.json)")
    parser.add_argument("--cache-dir", type=Path, default=RESULTS_DIR / "inputs", help="generated inputs, reused")
    parser.add_argument("--work-dir", type=Path, help="temporary lakes and outputs (default: a new temp folder)")
    parser.add_argument("--contenders", default=",".join(ALL_CONTENDERS), help=f"subset of {','.join(ALL_CONTENDERS)}")
    parser.add_argument(
        "--tick-objects", type=int, default=10_000, help="landing objects for the sensor tick (0: skip)"
    )
    parser.add_argument(
        "--one-server",
        action="store_true",
        help="one Spark Connect server for every platform measurement, its start timed in none (quicker checks)",
    )
    parser.add_argument(
        "--suite",
        action="store_true",
        help="after everything else, run and time the project's test suite (about 9 min) for its target",
    )
    parser.add_argument(
        "--report",
        type=Path,
        help="print the tables of an earlier results JSON (recomputed from its runs); measure nothing",
    )
    args = parser.parse_args(argv)
    unknown = set(args.contenders.split(",")) - set(ALL_CONTENDERS)
    if unknown:
        parser.error(f"unknown contenders {sorted(unknown)}; choose from {','.join(ALL_CONTENDERS)}")
    return args


def settings_from(args: argparse.Namespace, work_dir: Path, log: Path) -> Settings:
    return Settings(
        scales=[float(s) if "." in s else int(s) for s in args.scales.split(",")],
        repeat=args.repeat,
        cache_dir=args.cache_dir.resolve(),
        work_dir=work_dir,
        log=log,
        contenders=tuple(c for c in ALL_CONTENDERS if c in args.contenders.split(",")),
        tick_objects=args.tick_objects,
        one_server=args.one_server,
        suite=args.suite,
        suite_unset=HARNESS_VARIABLES,
    )


def summaries(raw: dict) -> dict:
    """Everything derived from the raw runs: per-scale summaries, the sensor tick, the targets."""
    scales = [report.summarize_scale(s) for s in raw["scales"]]
    tick = report.sensor_tick_summary(raw["sensor_tick_runs"])
    suite = raw.get("suite")
    return {
        "units": report.__doc__.split("Units: ", 1)[1].strip(),
        "scales": scales,
        "sensor_tick": tick,
        "suite": suite,
        "targets": report.targets(scales, tick, suite),
    }


def build_results(raw: dict, settings: Settings, started: dict, ended: dict) -> dict:
    return {
        "started": started,
        "ended": ended,
        "machine": machine_info(),
        "settings": {
            "scales": settings.scales,
            "repeat": settings.repeat,
            "contenders": list(settings.contenders),
            "tick_objects": settings.tick_objects,
            "one_server": settings.one_server,
            "suite": settings.suite,
            "spark_retries": get_settings().spark_retries,
            # What the daemon ran with (platform_daemon): the settings' values, never overridden.
            "sensor_interval_seconds": get_settings().sensor_interval_seconds,
            "automation_interval_seconds": get_settings().automation_interval_seconds,
        },
        **summaries(raw),
    }


def raw_runs(results: dict) -> dict:
    """The raw measurements kept in a results JSON, as ``run_all`` returned them."""
    keep = ("scale", "label", "inputs", "runs")
    return {
        "scales": [{key: scale[key] for key in keep} for scale in results["scales"]],
        "sensor_tick_runs": results["sensor_tick"]["runs"],
        "suite": results.get("suite"),
    }


def reprint(path: Path) -> int:
    results = json.loads(path.read_text())
    print_report({**results, **summaries(raw_runs(results))})
    return 0


def moment() -> dict:
    return {"at": datetime.now(UTC).isoformat(timespec="seconds"), "load_average": load_average()}


def print_report(results: dict) -> None:
    machine = results["machine"]
    say(
        f"\n{machine['cpu_count']} CPUs ({machine['cpu_model']}), {machine['ram_bytes'] / 2**30:.1f} GiB RAM; "
        f"load average {results['started']['load_average']} at start, {results['ended']['load_average']} at end\n"
    )
    for line in report.table_lines(results["scales"]):
        say(line)
    say("\nplatform outputs:")
    for line in report.output_lines(results["scales"]):
        say(line)
    suite = results.get("suite")
    if suite:
        counts = ", ".join(f"{suite[key]} {key}" for key in ("passed", "failed", "errors", "skipped") if suite.get(key))
        say(f"\ntest suite: {suite['seconds'] / 60:.1f} min, {counts or 'no summary'}, exit code {suite['exit_code']}")
    say("\ntargets:")
    for line in report.target_lines(results["targets"]):
        say(line)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.report:
        return reprint(args.report)
    out = (args.out or RESULTS_DIR / f"bench-{time.strftime('%Y%m%d-%H%M%S')}.json").resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    log = out.with_suffix(".log")
    log.write_text("")
    with tempfile.TemporaryDirectory(prefix="etl-bench-", dir=args.work_dir) as work:
        settings = settings_from(args, Path(work), log)
        started = moment()
        raw = run_all(settings)
        ended = moment()
    results = build_results(raw, settings, started, ended)
    out.write_text(json.dumps(results, indent=2, default=str))
    print_report(results)
    say(f"\nresults: {out}\nlogs:    {log}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
