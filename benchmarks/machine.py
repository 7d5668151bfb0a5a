"""Where the figures were measured: they mean little without the machine and the versions."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from importlib import metadata

import psutil

from etl_platform.project import PROJECT_ROOT


def _command(*args: str) -> str:
    try:
        done = subprocess.run(args, capture_output=True, text=True, timeout=30, cwd=PROJECT_ROOT)
    except (OSError, subprocess.SubprocessError):
        return ""
    return (done.stdout or done.stderr).strip()


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def versions() -> dict[str, str]:
    found = {"python": sys.version.split()[0]}
    for package in ("pyspark", "duckdb", "dagster", "dagster-pipes", "pyarrow"):
        try:
            found[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            found[package] = "not installed"
    found["java"] = (_command("java", "-version").splitlines() or [""])[0]
    return found


def git_state() -> dict[str, object]:
    """The commit, and whether the tree had uncommitted changes (other work in progress)."""
    return {"commit": _command("git", "rev-parse", "HEAD"), "dirty": bool(_command("git", "status", "--porcelain"))}


def machine_info() -> dict[str, object]:
    memory = psutil.virtual_memory()
    return {
        "cpu_count": os.cpu_count(),
        "cpu_model": cpu_model(),
        "ram_bytes": memory.total,
        "platform": platform.platform(),
        "versions": versions(),
        "git": git_state(),
    }


def load_average() -> list[float]:
    return [round(value, 2) for value in os.getloadavg()]
