"""Logging setup for entry scripts; libraries only call ``logging.getLogger(__name__)``.

One line per event::

    2026-11-26T15:20:01Z INFO validator neurons.scoring: uid 3 hotkey 5F..: scored 0.82

(time in UTC, level, component, logger, message; tracebacks follow on the
next lines). ``--logging.debug`` on the command line maps to ``debug=True``.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from typing import TextIO

__all__ = ["configure_logging", "add_logging_args"]

# Chatty dependencies whose INFO/DEBUG lines drown ours unless we are debugging.
_NOISY = ("httpx", "httpcore", "urllib3", "websockets", "asyncio", "wandb", "substrateinterface", "ezkl", "halo2_proofs")


class _Formatter(logging.Formatter):
    converter = time.gmtime

    def __init__(self, component: str) -> None:
        super().__init__(
            fmt=f"%(asctime)s %(levelname)s {component} %(name)s: %(message)s",
            datefmt="%Y-%m-%dT%H:%M:%SZ",
        )


def configure_logging(component: str, debug: bool, *, stream: TextIO | None = None) -> None:
    """Send all logging to ``stream`` (stderr) as one line per event, tagged ``component``.

    Replaces the root logger's handlers (calling it twice does not duplicate
    lines). Level is DEBUG with ``debug`` else INFO; without ``debug`` the
    dependencies in ``_NOISY`` are held at WARNING.
    """
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(_Formatter(component))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if debug else logging.INFO)
    for name in _NOISY:
        logging.getLogger(name).setLevel(logging.NOTSET if debug else logging.WARNING)
    logging.captureWarnings(True)


def add_logging_args(parser: argparse.ArgumentParser) -> None:
    """Add ``--logging.debug`` (read back as ``args.logging_debug``)."""
    parser.add_argument(
        "--logging.debug",
        dest="logging_debug",
        action="store_true",
        help="log at DEBUG level, including the dependencies' own debug lines",
    )
