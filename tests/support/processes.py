"""Running the entry scripts as a user does: real subprocesses, an isolated environment, their logs.

Every process runs from the repository root with the interpreter that runs the
tests (the project's virtualenv), in an environment whose home and caches are
under a temporary folder. Plain functions and one class; nothing runs on import.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from bench.local_subnet import Neuron, neuron_env
from tests.support.paths import REPO_ROOT

__all__ = ["LOG_LINE", "isolated_env", "run", "error_lines", "Neuron"]

# time, level, component, optional logger, message
LOG_LINE = re.compile(
    r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ (?P<level>DEBUG|INFO|WARNING|ERROR|CRITICAL) "
    r"(?P<component>miner|validator)(?: (?P<logger>[\w.]+))?: (?P<message>.+)"
)

def isolated_env(root: Path, **extra: str) -> dict[str, str]:
    """The benchmarks' ``neuron_env`` (caches under ``root``, no key-cache variable, no wandb
    credentials, unbuffered output), plus HOME under ``root``, no ``PYTHONPATH`` (the entry
    scripts must find the packages on their own), uncoloured output 200 columns wide;
    ``extra`` is added last."""
    home = root / "home"
    home.mkdir(parents=True, exist_ok=True)
    env = neuron_env(root)
    env.pop("PYTHONPATH", None)
    env.update(
        HOME=str(home),
        BTCLI_TOKEN_SYMBOLS_CACHE=str(home / "token_symbols.json"),
        NO_COLOR="1",
        COLUMNS="200",
    )
    env.update(extra)
    return env


def run(argv: list[str], env: dict[str, str], timeout: float = 90) -> subprocess.CompletedProcess:
    """Run ``argv`` from the repository root to completion; text output captured."""
    return subprocess.run(argv, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=timeout)


def error_lines(text: str) -> list[str]:
    """The log lines at ERROR level (format: ``TIME ERROR component logger: message``)."""
    return [line for line in text.splitlines() if " ERROR " in line]
