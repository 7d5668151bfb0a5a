"""From raw runs to the targets: medians, rates, ratios, targets, and a printed table.

Units: seconds of wall time (median of the successful repetitions); MB = 10^6 bytes of CSV input
(both files); rows = CSV data rows of both files; peak RSS = the highest of the repetitions
(peak is about capacity, so the worst case counts); GB = 10^9 bytes. The daemon's figures
(``platform_daemon``, 1x only): seconds from landing until the joined table is published under a
running ``dagster dev``, its polling intervals included; its headline is the warm cycle, both
cycles are kept. The test suite (``--suite``): minutes of wall time, one run.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass

LABELS = {
    "cat": "cat (read bytes)",
    "duckdb": "DuckDB SQL",
    "bare_spark": "bare PySpark",
    "platform": "platform: whole graph",
    "platform_warm_rerun": "platform: warm re-run sales_daily",
    "platform_latency": "platform: land -> published",
    "platform_daemon": "platform: daemon, land -> joined",
}
PLATFORM_OUTPUTS = ("platform", "platform_latency", "platform_daemon")
MB, GB = 1e6, 1e9


def ok_runs(runs: list[dict]) -> list[dict]:
    return [run for run in runs if "error" not in run]


def summarize(runs: list[dict], rows: int, input_bytes: int, key: str = "seconds") -> dict:
    """Median time and the rates derived from it, the peak of peaks, the last outputs, the errors."""
    good = [run for run in ok_runs(runs) if key in run]
    times = [run[key] for run in good]
    peak_run = max(good, key=lambda run: run.get("peak_rss_bytes", 0), default={})
    seconds = statistics.median(times) if times else None
    summary = {
        "seconds": seconds,
        "seconds_each": times,
        "rows_per_second": rows / seconds if seconds else None,
        "mb_per_second": input_bytes / MB / seconds if seconds else None,
        "peak_rss_bytes": peak_run.get("peak_rss_bytes"),
        "peak_rss_by_process": peak_run.get("peak_rss_by_process"),
        "errors": [run["error"] for run in runs if "error" in run],
    }
    if good and "outputs" in good[-1]:
        summary["outputs"] = good[-1]["outputs"]
    if good and "phases" in good[-1]:
        summary["phases_median"] = {
            p: statistics.median(r["phases"][p] for r in good if p in r.get("phases", {})) for p in good[-1]["phases"]
        }
    profile_key = "warm_rerun_profile" if key == "warm_rerun_seconds" else "profile"
    profiles = [run[profile_key] for run in good if run.get(profile_key)]
    if profiles:
        summary["profile_median"] = median_profile(profiles)
    return summary


def median_profile(profiles: list[dict]) -> dict:
    """Median seconds per step over the repetitions, and of the Spark server's start."""
    steps = sorted({step for profile in profiles for step in profile["steps"]})
    starts = [p["server_start_seconds"] for p in profiles if p.get("server_start_seconds") is not None]
    return {
        "steps": {step: statistics.median(p["steps"][step] for p in profiles if step in p["steps"]) for step in steps},
        "server_start_seconds": statistics.median(starts) if starts else None,
    }


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    return numerator / denominator if numerator and denominator else None


def summarize_scale(scale_runs: dict) -> dict:
    inputs, runs = scale_runs["inputs"], scale_runs["runs"]
    rows, size = inputs["rows"], inputs["bytes"]
    contenders = {name: summarize(results, rows, size) for name, results in runs.items()}
    if any("warm_rerun_seconds" in run for run in runs.get("platform", [])):
        # The re-run processes the sales file only: its rates are over that file.
        rerun = summarize(runs["platform"], inputs["sales_rows"], inputs["sales_bytes"], key="warm_rerun_seconds")
        contenders["platform_warm_rerun"] = {k: v for k, v in rerun.items() if k != "outputs"}
    if "platform_daemon" in contenders:
        contenders["platform_daemon"].update(daemon_summary(runs["platform_daemon"]))
    seconds = {name: summary["seconds"] for name, summary in contenders.items()}
    return {
        "scale": scale_runs["scale"],
        "label": scale_runs["label"],
        "inputs": inputs,
        "contenders": contenders,
        "ratios": {
            "platform_over_bare_spark": ratio(seconds.get("platform"), seconds.get("bare_spark")),
            "platform_over_duckdb": ratio(seconds.get("platform"), seconds.get("duckdb")),
            "platform_latency_over_bare_spark": ratio(seconds.get("platform_latency"), seconds.get("bare_spark")),
            "bare_spark_over_duckdb": ratio(seconds.get("bare_spark"), seconds.get("duckdb")),
            # Each round runs the contenders minutes apart, so a round's ratio sees similar load.
            "platform_over_bare_spark_by_round": round_ratios(runs.get("platform", []), runs.get("bare_spark", [])),
        },
        "output_rows": output_rows(contenders),
        "runs": runs,
    }


def daemon_summary(runs: list[dict]) -> dict:
    """The daemon's cold and warm cycles (medians and each), and the intervals it ran with."""
    good = [run for run in ok_runs(runs) if "cold_seconds" in run and "warm_seconds" in run]
    colds, warms = [run["cold_seconds"] for run in good], [run["warm_seconds"] for run in good]
    return {
        "cold_seconds": statistics.median(colds) if colds else None,
        "warm_seconds": statistics.median(warms) if warms else None,
        "cold_seconds_each": colds,
        "warm_seconds_each": warms,
        "intervals": good[-1].get("intervals") if good else None,
        # A clean stop: `dagster dev` exits 0 and nothing it started outlives it.
        "exit_statuses": [run.get("exit_status") for run in good],
        "left_running": [process for run in good for process in run.get("left_running") or []],
        # The last repetition's runs per cycle (created, started, ended after landing): what the phases sum up.
        "runs_last": {name: cycle.get("runs", []) for name, cycle in (good[-1].get("cycles") or {}).items()}
        if good
        else {},
    }


def round_ratios(numerators: list[dict], denominators: list[dict]) -> list[float | None]:
    return [
        ratio(a.get("seconds") if "error" not in a else None, b.get("seconds") if "error" not in b else None)
        for a, b in zip(numerators, denominators)
    ]


def output_rows(contenders: dict) -> dict[str, dict[str, int]]:
    """Rows per table per contender that wrote tables: every one should agree."""
    return {
        name: {table: info["rows"] for table, info in summary["outputs"].items()}
        for name, summary in contenders.items()
        if summary.get("outputs")
    }


def sensor_tick_summary(runs: list[dict]) -> dict:
    good = ok_runs(runs)
    keys = ("seconds", "first_tick_seconds", "max_tick_seconds", "median_tick_seconds", "next_pass_tick_seconds")
    summary = {key: statistics.median(run[key] for run in good) if good else None for key in keys}
    return {
        **summary,
        "objects": good[0]["objects"] if good else None,
        "ticks_per_pass": good[0]["ticks_per_pass"] if good else None,
        "runs": runs,
    }


@dataclass(frozen=True)
class Target:
    name: str
    measured: float | None
    limit: float
    unit: str
    at_most: bool = True
    note: str = ""
    # Why the measurement does not count, however good its figure (a test suite with failures).
    failure: str | None = None

    def to_json(self) -> dict:
        if self.measured is None:
            status, miss = "n/a", None
        else:
            passed = self.measured <= self.limit if self.at_most else self.measured >= self.limit
            status = "PASS" if passed and self.failure is None else "MISS"
            miss = (
                (self.measured / self.limit if self.at_most else self.limit / self.measured) if self.measured else None
            )
        return {
            "target": self.name,
            "status": status,
            "measured": self.measured,
            "limit": self.limit,
            "unit": self.unit,
            "comparison": "<=" if self.at_most else ">=",
            "factor_off": miss,
            "note": self.failure or self.note,
        }


def _by_label(scales: list[dict]) -> dict[float, dict]:
    return {s["scale"]: s for s in scales}


def _contender(scale: dict | None, contender: str) -> dict:
    return (scale or {}).get("contenders", {}).get(contender) or {}


def _seconds(scale: dict | None, contender: str) -> float | None:
    return _contender(scale, contender).get("seconds")


def _over_bare_spark(scale: dict | None) -> float | None:
    return (scale or {}).get("ratios", {}).get("platform_over_bare_spark")


def _platform_files(scales: list[dict]) -> float | None:
    counts = [
        info["parquet_files"]
        for scale in scales
        for name in PLATFORM_OUTPUTS
        for info in (scale["contenders"].get(name, {}).get("outputs") or {}).values()
    ]
    return max(counts) if counts else None


def _peak_gb(scale: dict | None) -> float | None:
    peaks = [_contender(scale, n).get("peak_rss_bytes") for n in ("platform", "platform_latency")]
    known = [p for p in peaks if p]
    return max(known) / GB if known else None


def suite_target(suite: dict | None) -> Target:
    """The test suite's minutes; a run with failures (or no summary) is a MISS with its reason."""
    suite = suite or {}
    seconds = suite.get("seconds")
    return Target(
        "test suite <= 8 min",
        seconds / 60 if seconds is not None else None,
        8.0,
        "min",
        failure=suite.get("error"),
    )


def targets(scales: list[dict], tick: dict, suite: dict | None = None) -> list[dict]:
    """The targets against the measured medians; n/a where a scale, a contender or the suite was not run."""
    by = _by_label(scales)
    s1, s500 = by.get(1), by.get(500)
    daemon = _contender(s1, "platform_daemon")
    return [
        *(
            Target(f"{label} whole graph <= 1.3x bare PySpark", _over_bare_spark(by.get(scale)), 1.3, "x").to_json()
            for scale, label in ((1, "1x"), (100, "100x"), (500, "500x"))
        ),
        Target(
            "warm re-run of one processed asset <= 2 s (1x)", _seconds(s1, "platform_warm_rerun"), 2.0, "s"
        ).to_json(),
        Target(
            "land -> joined published under the daemon, warm server, 1x <= 20 s", daemon.get("warm_seconds"), 20.0, "s"
        ).to_json(),
        Target(
            "land -> joined published under the daemon, from cold, 1x <= 45 s", daemon.get("cold_seconds"), 45.0, "s"
        ).to_json(),
        Target("peak memory at 500x <= 1.5 GB (all processes)", _peak_gb(s500), 1.5, "GB").to_json(),
        suite_target(suite).to_json(),
        Target("<= 2 Parquet files per output table", _platform_files(scales), 2, "files").to_json(),
        Target(
            f"sensor tick < 1 s ({tick.get('objects') or 0:,} objects, slowest tick of a pass)",
            tick.get("seconds"),
            1.0,
            "s",
        ).to_json(),
    ]


def _fmt(value: float | None, spec: str, suffix: str = "") -> str:
    return "-" if value is None else f"{value:{spec}}{suffix}"


def table_lines(scales: list[dict]) -> list[str]:
    header = f"{'scale':>6}  {'contender':<34} {'wall s':>8} {'rows/s':>12} {'MB/s':>8} {'peak RSS':>9}"
    lines = [header, "-" * len(header)]
    for scale in scales:
        inputs = scale["inputs"]
        lines.append(f"{scale['label']:>6}  {inputs['rows']:,} rows, {inputs['bytes'] / MB:,.1f} MB CSV")
        for name, summary in scale["contenders"].items():
            failed = f"  ({len(summary['errors'])} failed)" if summary["errors"] else ""
            lines.append(
                f"{'':>6}  {LABELS.get(name, name):<34} {_fmt(summary['seconds'], '.2f'):>8} "
                f"{_fmt(summary['rows_per_second'], ',.0f'):>12} {_fmt(summary['mb_per_second'], '.1f'):>8} "
                f"{_fmt(summary['peak_rss_bytes'] and summary['peak_rss_bytes'] / MB, ',.0f', ' MB'):>9}{failed}"
            )
        for name in ("platform", "platform_latency"):
            detail = breakdown(scale["contenders"].get(name, {}))
            if detail:
                lines.append(f"{'':>6}    {LABELS[name].split(': ')[1]}: {detail}")
        if "platform_daemon" in scale["contenders"]:
            daemon = scale["contenders"]["platform_daemon"]
            lines.append(f"{'':>6}    {daemon_detail(daemon)}")
            lines += [f"{'':>6}      {line}" for line in daemon_run_lines(daemon)]
        r = scale["ratios"]
        lines.append(
            f"{'':>6}  platform/bare-Spark {_fmt(r['platform_over_bare_spark'], '.2f', 'x')}, "
            f"platform/DuckDB {_fmt(r['platform_over_duckdb'], '.1f', 'x')}, "
            f"latency/bare-Spark {_fmt(r['platform_latency_over_bare_spark'], '.2f', 'x')}; "
            f"platform/bare-Spark by round {', '.join(_fmt(x, '.2f', 'x') for x in r['platform_over_bare_spark_by_round']) or '-'}"
        )
    return lines


def breakdown(summary: dict) -> str:
    """Where the platform's time went: steps and server start, or the sensor-driven phases."""
    parts = []
    profile = summary.get("profile_median") or {}
    if profile.get("server_start_seconds") is not None:
        parts.append(f"Spark server start {profile['server_start_seconds']:.1f}")
    parts += [f"{step} {seconds:.1f}" for step, seconds in profile.get("steps", {}).items()]
    parts += [f"{phase} {seconds:.1f}" for phase, seconds in (summary.get("phases_median") or {}).items()]
    return ", ".join(parts) + " s" if parts else ""


def daemon_detail(summary: dict) -> str:
    """``daemon: cold X s, warm Y s`` with the intervals in effect and each cycle's median phases."""
    intervals = summary.get("intervals") or {}
    line = (
        f"daemon: cold {_fmt(summary.get('cold_seconds'), '.1f', ' s')}, warm {_fmt(summary.get('warm_seconds'), '.1f', ' s')}"
        f" (sensor interval {_fmt(intervals.get('sensor_interval_seconds'), 'g', ' s')}, "
        f"automation interval {_fmt(intervals.get('automation_interval_seconds'), 'g', ' s')})"
    )
    if summary.get("left_running") or any(status for status in summary.get("exit_statuses") or []):
        line += (
            f"; NOT A CLEAN STOP: exit statuses {summary['exit_statuses']}, "
            f"killed after it: {summary['left_running'] or 'none'}"
        )
    phases = summary.get("phases_median") or {}
    for cycle in ("cold", "warm"):
        parts = [
            f"{name[len(cycle) + 1 :]} {seconds:.1f}"
            for name, seconds in phases.items()
            if name.startswith(f"{cycle} ")
        ]
        if parts:
            line += f"; {cycle}: {', '.join(parts)} s"
    return line


def daemon_run_lines(summary: dict) -> list[str]:
    """The last repetition's runs per cycle: assets, then seconds after landing when created, started, ended."""
    lines = []
    for cycle, runs in (summary.get("runs_last") or {}).items():
        described = "; ".join(
            f"{'+'.join(run['assets']) or run['run_id'][:8]} {_fmt(run['created'], '.1f')}"
            f"/{_fmt(run['started'], '.1f')}/{_fmt(run['ended'], '.1f')}"
            + ("" if run.get("status") in (None, "SUCCESS") else f" {run['status']}")
            for run in runs
        )
        lines.append(f"{cycle} runs (created/started/ended, s after landing): {described or 'none'}")
    return lines


def target_lines(results: list[dict]) -> list[str]:
    lines = []
    for t in results:
        if t["status"] == "n/a":
            detail = "not measured"
        else:
            detail = f"measured {t['measured']:,.3g} {t['unit']} (target {t['comparison']} {t['limit']:g})"
            if t["status"] == "MISS" and t["factor_off"]:
                detail += f" ({t['factor_off']:.2f}x off)"
            if t.get("note"):
                detail += f"; {t['note']}"
        lines.append(f"{t['status']:<5} {t['target']}: {detail}")
    return lines


def platform_outputs(scale: dict) -> dict:
    """The tables of the first platform contender that published them at this scale."""
    for name in PLATFORM_OUTPUTS:
        outputs = scale["contenders"].get(name, {}).get("outputs")
        if outputs:
            return outputs
    return {}


def output_lines(scales: list[dict]) -> list[str]:
    """Parquet files and codecs of the platform's tables, and whether every contender agrees on rows."""
    lines = []
    for scale in scales:
        outputs = platform_outputs(scale)
        described = ", ".join(
            f"{t} {i['rows']:,} rows/{i['parquet_files']} file(s)/{'+'.join(i['codecs'])}" for t, i in outputs.items()
        )
        counts = list(scale["output_rows"].values())
        agree = (
            "all contenders agree on rows"
            if counts and all(c == counts[0] for c in counts)
            else f"ROW COUNTS DIFFER: {scale['output_rows']}"
        )
        lines.append(f"{scale['label']:>6}  {described or 'no platform outputs'}; {agree}")
    return lines
