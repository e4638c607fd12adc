"""Running the entry scripts as a user does: real subprocesses, an isolated environment, their logs.

Every process runs from the repository root with the interpreter that runs the
tests (the project's virtualenv), in an environment whose home and caches are
under a temporary folder. Plain functions and one class; nothing runs on import.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from tests.support.paths import REPO_ROOT

__all__ = ["LOG_LINE", "isolated_env", "run", "error_lines", "Neuron"]

# time, level, component, optional logger, message
LOG_LINE = re.compile(
    r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ (?P<level>DEBUG|INFO|WARNING|ERROR|CRITICAL) "
    r"(?P<component>miner|validator)(?: (?P<logger>[\w.]+))?: (?P<message>.+)"
)

# Variables of the test runner's own environment that would change what a neuron does.
_LEAKS = ("PYTHONPATH", "POI_KEY_CACHE", "WANDB_API_KEY", "WANDB_MODE", "WANDB_ENTITY", "WANDB_PROJECT")


def isolated_env(root: Path, **extra: str) -> dict[str, str]:
    """``os.environ`` with HOME, the SDK's token-symbol cache and wandb's folders under ``root``.

    Drops ``PYTHONPATH`` (the entry scripts must find the packages on their
    own), the key-cache variable and wandb's credentials; output is unbuffered,
    uncoloured and 200 columns wide. ``extra`` is added last.
    """
    home = root / "home"
    home.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if k not in _LEAKS}
    env.update(
        HOME=str(home),
        BTCLI_TOKEN_SYMBOLS_CACHE=str(home / "token_symbols.json"),
        WANDB_CONFIG_DIR=str(root / "wandb-config"),
        WANDB_CACHE_DIR=str(root / "wandb-cache"),
        WANDB_DATA_DIR=str(root / "wandb-data"),
        PYTHONUNBUFFERED="1",
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


class Neuron:
    """One long-running process (an entry script), its stdout and stderr in ``log``.

    It runs in its own session, so a signal to its process group reaches its
    workers too, as a terminal's Ctrl-C does.
    """

    def __init__(self, argv: list[str], *, log: Path, env: dict[str, str], cwd: Path = REPO_ROOT) -> None:
        self.log = log
        self._out = log.open("w")
        self.proc = subprocess.Popen(
            argv, cwd=cwd, env=env, stdout=self._out, stderr=subprocess.STDOUT, start_new_session=True,
        )

    def text(self) -> str:
        return self.log.read_text()

    def wait_for(self, what: str, predicate: Callable[[], bool], timeout: float) -> None:
        """Poll ``predicate`` until true; fail with the log when it times out or the process exits."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return
            if self.proc.poll() is not None:
                raise AssertionError(f"exited ({self.proc.returncode}) before {what}:\n{self.text()}")
            time.sleep(0.1)
        raise AssertionError(f"no {what} within {timeout:.0f}s:\n{self.text()}")

    def wait_for_line(self, fragment: str, timeout: float = 90.0) -> None:
        self.wait_for(repr(fragment), lambda: fragment in self.text(), timeout)

    def stop(self, sig: signal.Signals = signal.SIGINT, timeout: float = 40.0) -> int:
        """Send ``sig`` and return the exit code; SIGKILL the group only if it outlives ``timeout``.

        SIGINT goes to the whole process group, as Ctrl-C and pm2 send it (the
        workers ignore it); any other signal goes to the process alone, as
        ``kill PID`` sends it. Never raises for a process that already exited.
        """
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):  # it may exit meanwhile
                if sig == signal.SIGINT:
                    os.killpg(self.proc.pid, sig)
                else:
                    self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self._out.close()
        return self.proc.returncode
