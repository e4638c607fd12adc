"""Replacing a model folder atomically: what the build and ``execution_layer.new`` both do last."""

from __future__ import annotations

import shutil
from pathlib import Path

__all__ = ["swap_in"]


def swap_in(work: Path, folder: Path) -> None:
    """Put ``work`` (a finished copy beside ``folder``, same parent) in ``folder``'s place.

    Without ``folder``: one rename. Otherwise two: ``folder`` aside to ``.<name>.old-*``, then
    ``work`` in, putting ``folder`` back if the second fails; the old folder is removed only once
    the new one is in.
    """
    if not folder.exists():
        work.rename(folder)
        return
    old = folder.parent / f".{folder.name}.old-{work.name.rsplit('-', 1)[-1]}"
    folder.rename(old)
    try:
        work.rename(folder)
    except BaseException:
        old.rename(folder)
        raise
    shutil.rmtree(old, ignore_errors=True)
