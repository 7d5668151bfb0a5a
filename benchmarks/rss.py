"""Peak resident memory of everything a contender runs: its process tree, JVMs included.

A background thread sums RSS over a root process and all its descendants (the platform's Spark
Connect server is a child of the measuring process) every few tens of milliseconds; the peak of
that sum is what the machine had to hold at once.
"""

from __future__ import annotations

import os
import threading

import psutil

SAMPLE_SECONDS = 0.05


def tree_rss(root: psutil.Process, include_root: bool) -> dict[str, int]:
    """RSS of ``root``'s descendants (and ``root`` itself when asked), by process (``"<pid> <name>"``)."""
    processes: dict[int, psutil.Process] = {}
    try:
        if include_root:
            processes[root.pid] = root
        processes.update({child.pid: child for child in root.children(recursive=True)})
    except psutil.Error:
        pass
    sizes = {}
    for pid, process in processes.items():
        try:
            if spawning_from_jvm(process):
                continue
            sizes[f"{pid} {describe(process)}"] = process.memory_info().rss
        except psutil.Error:
            continue  # ended between listing and reading: it holds nothing any more
    return sizes


def spawning_from_jvm(process: psutil.Process) -> bool:
    """A JVM starting a process (a Python worker, a shell) forks a child that, until it execs,
    is the JVM again (same command line, named after the calling thread) and shares its memory:
    counting it would count the JVM twice for that instant."""
    parent = process.parent()
    return parent is not None and parent.name() == "java" and process.cmdline() == parent.cmdline()


def describe(process: psutil.Process) -> str:
    """``java SparkConnectServer``, ``python process_sales_data.py``, ``python -m benchmarks``: enough
    to tell the processes apart in the breakdown."""
    try:
        name, command = process.name(), process.cmdline()
    except psutil.Error:
        return "?"
    if name == "java":
        main = next((part for part in command if "SparkConnectServer" in part), "") or "SparkSubmit"
        return f"java {main.rsplit('.', 1)[-1]}"
    if "-m" in command[:-1]:
        return f"{name} -m {command[command.index('-m') + 1]}"
    script = next((part.rsplit("/", 1)[-1] for part in command[1:] if part.endswith(".py")), "")
    return f"{name} {script}".strip()


class PeakRss:
    """``with PeakRss() as peak: ...`` then ``peak.bytes`` (and ``peak.breakdown``, RSS by process
    at that moment, to say what the memory was); samples until the block ends."""

    def __init__(self, pid: int | None = None, include_root: bool = True, interval: float = SAMPLE_SECONDS):
        self.root = psutil.Process(pid or os.getpid())
        self.include_root, self.interval = include_root, interval
        self.bytes = 0
        self.breakdown: dict[str, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="peak-rss", daemon=True)

    def sample(self) -> None:
        sizes = tree_rss(self.root, self.include_root)
        if sum(sizes.values()) > self.bytes:
            self.bytes, self.breakdown = sum(sizes.values()), sizes

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.interval)

    def __enter__(self) -> PeakRss:
        self.sample()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.sample()
