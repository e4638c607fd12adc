"""Logging setup for entry scripts; libraries only call ``logging.getLogger(__name__)``.

One line per event::

    2026-11-26T15:20:01Z INFO validator: round 4: 3/3 verified, mean score 0.712
    2026-11-26T15:20:01Z INFO validator neurons.validating.challenge: uid 3 5FHneW46xG: digits_cnn failed: timeout

(time in UTC, level, component, then the logger when it is not the
component's own, message; tracebacks follow on the next lines).
``--logging.debug`` on the command line maps to ``debug=True``.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from typing import TextIO

__all__ = ["configure_logging", "add_logging_args"]

# Chatty dependencies whose INFO/DEBUG lines drown ours unless we are debugging.
# uvicorn's INFO lines repeat what the miner logs itself ("serving on ...") and
# tell a pm2-managed process to "Press CTRL+C"; its errors still show.
_NOISY = (
    "httpx", "httpcore", "urllib3", "websockets", "asyncio", "wandb", "substrateinterface", "ezkl", "halo2_proofs", "uvicorn",
)


class _Formatter(logging.Formatter):
    def __init__(self, component: str) -> None:
        super().__init__(fmt="%(asctime)s %(levelname)s %(where)s: %(message)s", datefmt="%Y-%m-%dT%H:%M:%SZ")
        self._component = component
        # UTC timestamps. Set on the instance: as a class attribute a function would
        # read as a method to the type checker (time.gmtime is a builtin, never bound).
        self.converter = time.gmtime

    def format(self, record: logging.LogRecord) -> str:
        name = record.name
        record.where = self._component if name in (self._component, "root") else f"{self._component} {name}"
        return super().format(record)


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


def add_logging_args(parser: argparse._ActionsContainer) -> None:
    """Add ``--logging.debug`` (read back as ``args.logging_debug``) to a parser or an argument
    group (``_ActionsContainer`` is argparse's one base class of the two)."""
    parser.add_argument(
        "--logging.debug",
        dest="logging_debug",
        action="store_true",
        help="log at DEBUG level, including the dependencies' own debug lines",
    )
