"""Helpers for tests that run the entry scripts as a user does: real subprocesses.

Every process gets an isolated environment (``HOME`` and the SDK's caches in a
temporary folder) and runs from the repository root with the interpreter that
runs the tests (the project's virtualenv). Plain functions; nothing runs on import.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from tests.support.paths import REPO_ROOT

ROOT = REPO_ROOT
PYTHON = sys.executable


@dataclass(frozen=True)
class LocalChain:
    """A devnet state file and a wallet folder in a temporary directory."""

    state: Path
    wallets: Path

    def devnet(self, *args: str) -> list[str]:
        """argv of ``python -m neurons.devnet ARGS`` on this chain and wallet folder."""
        return [PYTHON, "-m", "neurons.devnet", *args, "--state", str(self.state),
                "--wallet.path", str(self.wallets)]

    def chain_flags(self) -> list[str]:
        """The entry scripts' flags that point them at this chain and wallet folder."""
        return ["--subtensor.network", "devnet", "--subtensor.devnet_state", str(self.state),
                "--wallet.path", str(self.wallets)]


def isolated_env(tmp: Path) -> dict[str, str]:
    """os.environ with HOME and the SDK's token-symbol cache moved under ``tmp``."""
    home = tmp / "home"
    home.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "HOME": str(home), "BTCLI_TOKEN_SYMBOLS_CACHE": str(home / "symbols.json")}
    env.pop("PYTHONPATH", None)  # the entry scripts must find the packages on their own
    env["NO_COLOR"] = "1"
    env["COLUMNS"] = "200"
    return env


def run(argv: list[str], env: dict[str, str], timeout: float = 90) -> subprocess.CompletedProcess:
    return subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)


def free_port() -> int:
    """A TCP port nothing listens on right now (closed again before returning)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def error_lines(text: str) -> list[str]:
    """The log lines at ERROR level (format: ``TIME ERROR component logger: message``)."""
    return [line for line in text.splitlines() if " ERROR " in line]


def wait_for_log(log: Path, needle: str, proc: subprocess.Popen, timeout: float) -> None:
    """Wait until ``needle`` appears in the ``log`` file; fail if ``proc`` exits first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if needle in log.read_text():
            return
        if proc.poll() is not None:
            raise AssertionError(f"exited with {proc.returncode} before {needle!r}:\n{log.read_text()}")
        time.sleep(0.1)
    raise AssertionError(f"no {needle!r} within {timeout}s:\n{log.read_text()}")


def stop(proc: subprocess.Popen, timeout: float, sig: signal.Signals = signal.SIGTERM) -> int:
    """Send ``sig`` to ``proc`` and return its exit code; kill it (and fail) past ``timeout``."""
    proc.send_signal(sig)
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise AssertionError(f"still running {timeout}s after {sig.name}") from None
