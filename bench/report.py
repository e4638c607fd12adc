"""What a benchmark part gives the performance report, and the report itself.

``python -m bench.performance`` runs each part (the miner path, the circuits, the
validator) and writes ``docs/performance.md`` from what they return: one
:class:`Section` per part, its tables already in markdown, and its targets as
:class:`Target` rows (measured, wanted, met or not), so the report can list every
target in one place. A part measures; it never asserts: a missed target is a
row that says so, with the part's explanation beside it.

The machine the numbers come from is part of every report (:func:`describe_machine`):
CPU model and count, memory, the load average before and after each part, and the
versions that matter (Python, ezkl, bittensor).
"""

from __future__ import annotations

import os
import platform
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["PartOptions", "Target", "Section", "Machine", "describe_machine", "load_average", "render", "markdown_table"]


@dataclass(frozen=True)
class Target:
    """One target of issue 13 as measured: ``met`` is None when it could not be measured."""

    name: str
    measured: str
    wanted: str
    met: bool | None
    note: str = ""


@dataclass(frozen=True)
class Section:
    """One benchmark part's findings: markdown ``body`` (tables, findings) and its ``targets``.

    ``load_before`` and ``load_after`` are the 1-minute load averages around the part, so
    a reader sees how quiet the machine was; ``seconds`` is the part's wall time.
    """

    title: str
    body: str
    targets: tuple[Target, ...] = ()
    seconds: float = 0.0
    load_before: float = 0.0
    load_after: float = 0.0
    data: dict[str, object] = field(default_factory=dict)  # the raw numbers, for the JSON beside the doc


@dataclass(frozen=True)
class Machine:
    cpu: str
    cores: int
    memory_gb: float
    python: str
    versions: dict[str, str]

    def markdown(self) -> str:
        versions = ", ".join(f"{name} {version}" for name, version in self.versions.items())
        return (f"- CPU: {self.cpu}, {self.cores} cores (`os.cpu_count()`)\n"
                f"- memory: {self.memory_gb:.1f} GB\n"
                f"- Python {self.python}, {platform.system()} {platform.release()}\n"
                f"- {versions}\n")


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _memory_gb() -> float:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / 1024 / 1024
    except OSError:
        pass
    return 0.0


def describe_machine() -> Machine:
    """The machine the numbers come from, read from ``/proc`` and the installed packages."""
    from importlib.metadata import PackageNotFoundError, version

    versions = {}
    for package in ("ezkl", "bittensor", "onnxruntime", "httpx", "uvicorn"):
        try:
            versions[package] = version(package)
        except PackageNotFoundError:
            versions[package] = "not installed"
    return Machine(cpu=_cpu_model(), cores=os.cpu_count() or 1, memory_gb=_memory_gb(),
                   python=platform.python_version(), versions=versions)


def load_average() -> float:
    """The 1-minute load average (0.0 where the platform has none)."""
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        return 0.0


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    """A GitHub markdown table; every row must have ``len(header)`` cells."""
    for row in rows:
        if len(row) != len(header):
            raise ValueError(f"row {row} has {len(row)} cells, the header {len(header)}")
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def _met(target: Target) -> str:
    return {True: "met", False: "**missed**", None: "not measured"}[target.met]


def render(machine: Machine, sections: list[Section], *, command: str, started: str, wall_s: float) -> str:
    """The whole ``docs/performance.md``: how it was made, the machine, every target, each section."""
    targets = [t for s in sections for t in s.targets]
    out = [
        "# Performance\n",
        f"Written by `{command}` on {started} (the whole run took {wall_s / 60:.1f} min). Every ratio below was "
        "measured side by side in that one run: both sides interleaved on the same machine, so the machine's "
        "load moves both. Benchmarks measure; no test times anything. Rerun the command to refresh this file.\n",
        "## The machine\n",
        machine.markdown(),
        "## Targets\n",
        markdown_table(["target", "measured", "wanted", "verdict", "note"],
                       [[t.name, t.measured, t.wanted, _met(t), t.note] for t in targets]),
    ]
    for section in sections:
        out.append(f"## {section.title}\n")
        out.append(f"_{section.seconds:.0f} s; load average {section.load_before} before, "
                   f"{section.load_after} after._\n")
        out.append(section.body.rstrip() + "\n")
    return "\n".join(out)


@dataclass(frozen=True)
class PartOptions:
    """What every part is run with.

    ``quick`` shrinks every part to a smoke run (a few rounds, light circuits only): for
    tests and for trying a change, never for the numbers in the docs. ``circuits`` limits
    the parts to these shipped circuits (folder names; None: every shipped one). ``work``
    is a scratch folder the part may fill; ``key_cache`` the proving-key cache (keys are
    derived there once if missing).
    """

    work: Path
    key_cache: Path
    quick: bool = False
    circuits: tuple[str, ...] | None = None
