"""A throw-away local subnet for the benchmarks: a devnet with wallets, and neuron processes on it.

The chain is made with the devnet's own admin operations
(``neurons.devnet.admin``, what ``python -m neurons.devnet`` runs): registration
and stake are signed SDK calls, as an operator makes them. Each neuron is a
real entry-script process, stopped with SIGINT as pm2 stops it. Nothing here
imports the tests; nothing runs on import.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from neurons.chain import load_wallet
from neurons.devnet import admin
from neurons.devnet.runtime import SubnetParams

__all__ = ["NETUID", "LocalSubnet", "make_subnet", "free_port", "neuron_env", "Neuron"]

NETUID = 2
REPO = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class LocalSubnet:
    """The devnet state file and the wallet folder of subnet :data:`NETUID`."""

    state: Path
    wallets: Path

    def chain_args(self) -> list[str]:
        """The entry scripts' flags that point them at this subnet, state file and wallet folder."""
        return [
            "--netuid", str(NETUID), "--subtensor.network", "devnet",
            "--subtensor.devnet_state", str(self.state), "--wallet.path", str(self.wallets),
        ]


def make_subnet(
    root: Path,
    *,
    validators: Sequence[str] = ("val",),
    miners: Sequence[str] = ("m1",),
    block_time: float = 1.0,
    params: SubnetParams = SubnetParams(tempo=10, weights_rate_limit=3),
) -> LocalSubnet:
    """Subnet :data:`NETUID` at ``root/chain.sqlite``, wallets (hotkey ``default``) in ``root/wallets``.

    Every wallet is registered (validators first: uids 0..); validators are then
    staked 1000 TAO and given a permit. Raises ``neurons.devnet.admin.DevnetError``
    (or a ``neurons.chain.ChainFailure``) when the chain refuses a step.
    """
    net = LocalSubnet(root / "chain.sqlite", root / "wallets")
    admin.create_subnet(NETUID, state=net.state, params=params, block_time=block_time)
    for name in (*validators, *miners):
        admin.wallet_create(name, "default", net.wallets)
        asyncio.run(admin.register(NETUID, name, "default", state=net.state, wallet_path=net.wallets))
    for name in validators:
        asyncio.run(admin.stake(NETUID, name, "default", 1000.0, state=net.state, wallet_path=net.wallets))
        hotkey = load_wallet(name, "default", net.wallets).hotkeypub.ss58_address
        admin.permit(NETUID, hotkey, state=net.state)
    return net


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def neuron_env(root: Path) -> dict[str, str]:
    """This process's environment with the SDK's and wandb's caches under ``root``.

    The key-cache variable and wandb's credentials are dropped, so only the
    flags decide where keys go and nothing is sent anywhere.
    """
    env = dict(os.environ)
    for name in ("WANDB_API_KEY", "WANDB_MODE", "WANDB_ENTITY", "WANDB_PROJECT", "POI_KEY_CACHE"):
        env.pop(name, None)
    env.update(
        BTCLI_TOKEN_SYMBOLS_CACHE=str(root / "token_symbols.json"),
        WANDB_CONFIG_DIR=str(root / "wandb-config"),
        WANDB_CACHE_DIR=str(root / "wandb-cache"),
        WANDB_DATA_DIR=str(root / "wandb-data"),
        PYTHONUNBUFFERED="1",
    )
    return env


class Neuron:
    """One long-running process (an entry script), its stdout and stderr in ``log``.

    It runs in its own session, so a signal to its process group reaches its
    workers too, as a terminal's Ctrl-C does. The benchmarks and the test suite
    both run neurons through this class.
    """

    def __init__(self, argv: list[str], *, log: Path, env: dict[str, str], cwd: Path = REPO) -> None:
        self.log = log
        self._out = log.open("w")
        self.proc = subprocess.Popen(
            argv, cwd=cwd, env=env, stdout=self._out, stderr=subprocess.STDOUT, start_new_session=True,
        )

    @classmethod
    def script(cls, script: str, args: list[str], *, log: Path, env: dict[str, str]) -> Neuron:
        """``script`` (relative to the repository) run by this interpreter with ``args``."""
        return cls([sys.executable, script, *args], log=log, env=env)

    def text(self) -> str:
        return self.log.read_text()

    def wait_for(self, what: str, predicate: Callable[[], bool], timeout: float) -> None:
        """Poll ``predicate`` until true; raise ``RuntimeError`` with the log on timeout or exit."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return
            if self.proc.poll() is not None:
                raise RuntimeError(f"exited ({self.proc.returncode}) before {what}:\n{self.text()}")
            time.sleep(0.1)
        raise RuntimeError(f"no {what} within {timeout:.0f}s:\n{self.text()}")

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
