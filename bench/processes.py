"""A process tree's memory and CPU, read from ``/proc`` (Linux only), for the benchmarks.

:func:`process_tree` lists a process and its descendants, :func:`pss_and_cpu` sums their
proportional set size and CPU-seconds, and :class:`Sampler` keeps the peak PSS of a tree
(sampled every 0.1 s, from its own thread) while a benchmark runs.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

__all__ = ["process_tree", "pss_and_cpu", "Sampler"]

TICK = os.sysconf("SC_CLK_TCK")


def process_tree(pid: int) -> list[int]:
    """``pid`` and all its descendants, read from ``/proc/<pid>/stat``."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                ppid = int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    tree = [pid]
    for p in tree:
        tree.extend(children.get(p, []))
    return tree


def pss_and_cpu(pids: list[int]) -> tuple[int, float]:
    """Summed proportional set size (bytes) and CPU-seconds of ``pids``; vanished ones count 0."""
    pss, cpu = 0, 0.0
    for p in pids:
        try:
            rollup = Path(f"/proc/{p}/smaps_rollup").read_text().splitlines()
            pss += next(int(line.split()[1]) * 1024 for line in rollup if line.startswith("Pss:"))
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            cpu += (int(fields[11]) + int(fields[12])) / TICK
        except (OSError, StopIteration, IndexError):
            pass
    return pss, cpu


class Sampler(threading.Thread):
    """Samples a process tree every 0.1 s: peak PSS, CPU-seconds so far, most processes seen."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid, self.peak, self.cpu, self.processes = pid, 0, 0.0, 0
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.is_set():
            tree = process_tree(self.pid)
            pss, cpu = pss_and_cpu(tree)
            self.peak, self.cpu = max(self.peak, pss), max(self.cpu, cpu)
            self.processes = max(self.processes, len(tree))
            time.sleep(0.1)
