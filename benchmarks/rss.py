"""Peak resident memory of everything a contender runs: its process tree, JVMs included.

A background thread sums RSS over a root process and all its descendants (plus any extra
processes, such as a warm Spark server the platform keeps outside the tree) every few tens of
milliseconds; the peak of that sum is what the machine had to hold at once.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable

import psutil

SAMPLE_SECONDS = 0.05


def tree_rss(root: psutil.Process, include_root: bool, extra_pids: Iterable[int] = ()) -> int:
    """RSS summed over ``root``'s descendants (and ``root`` itself when asked) and ``extra_pids``."""
    processes: dict[int, psutil.Process] = {}
    try:
        if include_root:
            processes[root.pid] = root
        processes.update({child.pid: child for child in root.children(recursive=True)})
    except psutil.Error:
        pass
    for pid in extra_pids:
        if pid not in processes:
            try:
                processes[pid] = psutil.Process(pid)
            except psutil.Error:
                continue
    total = 0
    for process in processes.values():
        try:
            total += process.memory_info().rss
        except psutil.Error:
            continue  # ended between listing and reading: it holds nothing any more
    return total


class PeakRss:
    """``with PeakRss() as peak: ...`` then ``peak.bytes``; samples until the block ends."""

    def __init__(
        self,
        pid: int | None = None,
        include_root: bool = True,
        extra_pids: Callable[[], Iterable[int]] = lambda: (),
        interval: float = SAMPLE_SECONDS,
    ):
        self.root = psutil.Process(pid or os.getpid())
        self.include_root, self.extra_pids, self.interval = include_root, extra_pids, interval
        self.bytes = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="peak-rss", daemon=True)

    def sample(self) -> None:
        self.bytes = max(self.bytes, tree_rss(self.root, self.include_root, self.extra_pids()))

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
