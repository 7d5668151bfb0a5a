"""The project's test suite, timed (``--suite``): the command ``make test`` runs after its linters.

Its output goes to the bench log; pytest's final summary line gives the counts. A run with a
failure, an error or a non-zero exit status is no pass of the "test suite <= 8 min" target, however
fast it was.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterable
from pathlib import Path

from etl_platform.project import PROJECT_ROOT
from etl_platform.settings import subprocess_environment

COMMAND = ("-m", "pytest", "-n", "2", "--dist", "loadfile", "-q", "-p", "no:cacheprovider")
TIMEOUT_SECONDS = 3600
COUNTS = ("passed", "failed", "skipped", "errors", "xfailed", "xpassed", "deselected")
_COUNT = re.compile(r"(\d+) (passed|failed|skipped|errors?|xfailed|xpassed|deselected|warnings?)\b")
_SUMMARY = re.compile(r"\bin (\d+(?:\.\d+)?)s\b")


def parse_summary(line: str) -> dict | None:
    """The counts of pytest's final line (``643 passed, 2 skipped in 528.31s (0:08:48)``, with or
    without its ``=`` rule), and pytest's own seconds; None when the line is no such summary."""
    text = line.strip().strip("=").strip()
    seconds = _SUMMARY.search(text)
    if not seconds:
        return None
    found = {("errors" if word.startswith("error") else word): int(n) for n, word in _COUNT.findall(text)}
    if not any(key in found for key in COUNTS) and not text.startswith("no tests ran"):
        return None
    return {**{key: found.get(key, 0) for key in COUNTS}, "pytest_seconds": float(seconds.group(1))}


def last_summary(lines: Iterable[str]) -> dict | None:
    summary = None
    for line in lines:
        summary = parse_summary(line) or summary
    return summary


def suite_result(seconds: float, exit_code: int, output_lines: Iterable[str]) -> dict:
    """What ``run_suite`` records: seconds, exit code, the counts and, unless it passed, why not."""
    summary = last_summary(output_lines)
    result: dict = {"seconds": round(seconds, 3), "exit_code": exit_code, **(summary or {})}
    if summary is None:
        result["error"] = f"no pytest summary line (exit code {exit_code})"
    elif summary["failed"] or summary["errors"] or exit_code != 0:
        result["error"] = (
            f"{summary['failed']} failed, {summary['errors']} errors, {summary['passed']} passed (exit code {exit_code})"
        )
    return result


def run_suite(log: Path, unset: Iterable[str] = ()) -> dict:
    """Run the suite from the project root, its output appended to ``log``; its result. ``unset``:
    variables the harness set for itself, not for the suite (it runs as ``make test`` runs it)."""
    environment = {key: value for key, value in subprocess_environment().items() if key not in set(unset)}
    start = log.stat().st_size if log.exists() else 0
    started = time.perf_counter()
    with open(log, "ab") as out:
        out.write(f"\n===== test suite: python {' '.join(COMMAND)} =====\n".encode())
        out.flush()
        # A process group of its own: on a time-out, pytest's workers (and their Spark) end with it.
        suite = subprocess.Popen(
            [sys.executable, *COMMAND],
            cwd=PROJECT_ROOT,
            env=environment,
            stdout=out,
            stderr=subprocess.STDOUT,
            process_group=0,
        )
        try:
            exit_code = suite.wait(timeout=TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(suite.pid, signal.SIGKILL)
            suite.wait()
            exit_code = -1
    seconds = time.perf_counter() - started
    with open(log, "rb") as output:
        output.seek(start)
        lines = output.read().decode(errors="replace").splitlines()
    result = suite_result(seconds, exit_code, lines)
    if exit_code == -1:
        result["error"] = f"timed out after {TIMEOUT_SECONDS} s"
    return result
