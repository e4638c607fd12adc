"""bench.children: a child's wall time, its own peak memory and its failures (real child processes)."""

from __future__ import annotations

import sys

import pytest

from bench.children import ChildFailed, run_child


def test_a_childs_peak_memory_is_its_own_not_its_big_parents():
    """Linux carries the parent's high-water RSS across fork and exec; the launcher keeps it out."""
    ballast = bytearray(300 * 10**6)
    ballast[:: 4096] = b"\1" * len(ballast[:: 4096])  # touch every page: 300 MB resident here
    small = run_child([sys.executable, "-c", "pass"])
    big = run_child([sys.executable, "-c", "x = bytearray(100 * 10**6); x[::4096] = b'1' * len(x[::4096])"])
    assert small.peak_rss_mb < 100 < big.peak_rss_mb < 300
    del ballast


def test_a_failing_child_is_reported_with_its_status_and_stderr():
    with pytest.raises(ChildFailed, match="exited with status 3: no key here"):
        run_child([sys.executable, "-c", "import sys; print('no key here', file=sys.stderr); sys.exit(3)"])


def test_a_childs_stdout_is_returned_and_its_wall_time_counted():
    done = run_child([sys.executable, "-c", "import time; time.sleep(0.2); print('measured')"])
    assert done.stdout == "measured\n"
    assert done.wall_s >= 0.2
