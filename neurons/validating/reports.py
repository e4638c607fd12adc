"""``reports.jsonl``: one JSON line per round, appended so that a crash cannot tear the file.

A SIGKILL (or power loss) in the middle of an append can leave a partial last
line: the kernel may stop a large ``write`` between pages (a full subnet's
line is over 100 KB). Appended to as is, the next round's line would be glued
onto it and both lost to a reader. So :func:`append_line`, in order:

1. rotates the file to ``<name>.1`` (replacing the previous one) once it has
   reached ``max_bytes``, so it cannot grow without bound;
2. if the file does not end in a newline, cuts it back to its last newline
   (the torn tail of an interrupted append: one WARNING says how many bytes
   went);
3. appends the line and its newline through one ``O_APPEND`` descriptor,
   looping over short writes.

So every line before the last is always whole, and the last is whole unless
the process died during its append, in which case the next append removes it.
It does not fsync: a report is an operator's record, not state (the state
file is, and ``neurons.validating.state`` makes that durable).
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

__all__ = ["append_line"]

log = logging.getLogger(__name__)

_CHUNK = 64 * 1024  # how far back one read looks for the last newline


def append_line(path: Path, line: dict[str, Any], *, max_bytes: int) -> None:
    """Append ``line`` as one JSON line to ``path`` (see the module docstring); raises ``OSError``."""
    data = (json.dumps(line) + "\n").encode()
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        if path.stat().st_size >= max_bytes:
            os.replace(path, path.with_name(path.name + ".1"))
    except FileNotFoundError:
        pass
    fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        _cut_torn_tail(fd, path)
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
    finally:
        os.close(fd)


def _cut_torn_tail(fd: int, path: Path) -> None:
    """Truncate the file behind ``fd`` to just after its last newline, if it does not end in one."""
    size = os.fstat(fd).st_size
    if size == 0 or os.pread(fd, 1, size - 1) == b"\n":
        return
    end = size
    keep = 0
    while end > 0:
        start = max(0, end - _CHUNK)
        at = os.pread(fd, end - start, start).rfind(b"\n")
        if at >= 0:
            keep = start + at + 1
            break
        end = start
    os.ftruncate(fd, keep)
    log.warning("%s ended in a partial line (an append was interrupted): removed its %d bytes",
                path, size - keep)
