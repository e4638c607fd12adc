"""A benchmark's child process, measured: its wall time and peak resident memory.

ezkl's memory is native (Rust), so ``tracemalloc`` cannot see it; a child process's
peak resident set, as the kernel reports it to the parent that reaps it
(``os.wait4``'s ``ru_maxrss``), can. A child that proves once therefore shows what one
prover process needs at its peak, interpreter and imports included.

One trap, measured here: Linux carries a process's high-water RSS across ``exec`` (the
memory it had just before, ``signal->maxrss``), and a child started from a big process
(``subprocess`` forks or vforks, then execs) reports at least its parent's peak: a
benchmark that held a 1 GB key once makes every later child "peak" at 1 GB. So the
command runs under a small launcher (a bare interpreter, about 12 MB) that starts it,
reaps it and reports its ``ru_maxrss``: that floor is below any Python child's own.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = ["ChildRun", "ChildFailed", "run_child"]


class ChildFailed(Exception):
    """A measured child exited with a non-zero status (the message ends with its stderr's tail)."""


@dataclass(frozen=True)
class ChildRun:
    """One child, run to its end: wall time from start to reaped, peak RSS in MB (10^6 bytes), its stdout."""

    wall_s: float
    peak_rss_mb: float
    stdout: str


# Runs argv[2:], reaps it, writes {"maxrss_kib", "wall_s", "status"} to argv[1]; exits with its status.
_LAUNCHER = """
import json, os, subprocess, sys, time
started = time.perf_counter()
child = subprocess.Popen(sys.argv[2:])
_, status, usage = os.wait4(child.pid, 0)
wall_s = time.perf_counter() - started
child.returncode = code = os.waitstatus_to_exitcode(status)
with open(sys.argv[1], "w") as f:
    json.dump({"maxrss_kib": usage.ru_maxrss, "wall_s": wall_s, "status": code}, f)
sys.exit(code if code >= 0 else 128 - code)
"""


def run_child(argv: Sequence[str], *, cwd: Path | None = None, env: Mapping[str, str] | None = None) -> ChildRun:
    """Run ``argv`` to completion under the launcher (see the module docstring) and measure it.

    stdout and stderr go to temporary files (no pipe can fill up and stall the child);
    stdout is returned, stderr only shown when the child fails: ChildFailed names the
    command, the status and the last 2,000 characters of its stderr. Wall time is from
    the child's start to its reaping; ``ru_maxrss`` (KiB on Linux) is the peak over the
    child and any descendants it waited for.
    """
    with tempfile.TemporaryDirectory(prefix="poi-child-") as tmp:
        report, out_path, err_path = Path(tmp) / "usage.json", Path(tmp) / "stdout", Path(tmp) / "stderr"
        with open(out_path, "wb") as out, open(err_path, "wb") as err:
            code = subprocess.call([sys.executable, "-c", _LAUNCHER, str(report), *argv], stdout=out, stderr=err,
                                   cwd=cwd, env=dict(env) if env is not None else None)
        stdout, stderr = out_path.read_text(errors="replace"), err_path.read_text(errors="replace")
        if code != 0 or not report.is_file():
            raise ChildFailed(f"{' '.join(argv)} exited with status {code}: {stderr[-2000:].strip()}")
        usage = json.loads(report.read_text())
    return ChildRun(wall_s=usage["wall_s"], peak_rss_mb=usage["maxrss_kib"] * 1024 / 1e6, stdout=stdout)
