"""Helpers for the operations tests: a devnet in a folder, neuron processes, scrapes.

Plain functions (no fixtures), so nothing runs on import. Everything a test
starts is a real process running a real entry script, as an operator would
start it; ``Neuron.stop`` sends SIGINT like pm2 does and waits.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import struct
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

from prometheus_client.parser import text_string_to_metric_families

from tests.support.paths import REPO_ROOT

REPO = REPO_ROOT
NETUID = 2

# time, level, component, optional logger, message
LOG_LINE = re.compile(
    r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ (?P<level>DEBUG|INFO|WARNING|ERROR|CRITICAL) "
    r"(?P<component>miner|validator)(?: (?P<logger>[\w.]+))?: (?P<message>.+)"
)


@dataclass(frozen=True)
class DevnetPaths:
    state: Path
    wallets: Path

    def chain_args(self) -> list[str]:
        return [
            "--netuid", str(NETUID), "--subtensor.network", "devnet",
            "--subtensor.devnet_state", str(self.state), "--wallet.path", str(self.wallets),
        ]


def make_devnet(root: Path, *, validators: tuple[str, ...] = ("val",), miners: tuple[str, ...] = ("m1",)) -> DevnetPaths:
    """A devnet subnet with the given wallets registered (validators staked and permitted).

    Uses the same admin commands an operator runs (``python -m neurons.devnet``),
    in process to save interpreter start-ups.
    """
    from neurons.devnet.cli import main

    paths = DevnetPaths(root / "chain.sqlite", root / "wallets")
    common = ["--state", str(paths.state), "--wallet.path", str(paths.wallets)]

    def run(*argv: str) -> None:
        assert main([*argv, *common]) == 0, f"devnet command failed: {argv}"

    run("create-subnet", "--netuid", str(NETUID), "--block-time", "1", "--tempo", "10", "--weights-rate-limit", "3")
    for name in (*validators, *miners):
        run("wallet-create", "--wallet.name", name)
        run("register", "--netuid", str(NETUID), "--wallet.name", name)
    for name in validators:
        run("stake", "--netuid", str(NETUID), "--amount", "1000", "--wallet.name", name)
        run("permit", "--netuid", str(NETUID), "--wallet.name", name)
    return paths


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def neuron_env(root: Path, **extra: str) -> dict[str, str]:
    """The test's environment with the SDK's and wandb's caches kept under ``root``."""
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
    env.update(extra)
    return env


class Neuron:
    """One entry-script process, its stdout and stderr in ``log``."""

    def __init__(self, script: str, args: list[str], *, log: Path, env: dict[str, str]) -> None:
        self.log = log
        self._out = log.open("w")
        self.proc = subprocess.Popen(
            [sys.executable, script, *args], cwd=REPO, env=env, stdout=self._out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def text(self) -> str:
        return self.log.read_text()

    def wait_for(self, what: str, predicate: Callable[[], bool], timeout: float) -> None:
        """Poll ``predicate`` until true; fail with the log when it times out or the process dies."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return
            if self.proc.poll() is not None:
                raise AssertionError(f"exited ({self.proc.returncode}) before {what}:\n{self.text()}")
            time.sleep(0.2)
        raise AssertionError(f"no {what} within {timeout:.0f}s:\n{self.text()}")

    def wait_for_line(self, fragment: str, timeout: float = 90.0) -> None:
        self.wait_for(repr(fragment), lambda: fragment in self.text(), timeout)

    def stop(self, timeout: float = 40.0) -> int:
        """SIGINT to the whole process group, as Ctrl-C and pm2 send it; SIGKILL only if it hangs.

        Returns the exit code.
        """
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):  # it may exit meanwhile
                os.killpg(self.proc.pid, signal.SIGINT)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self._out.close()
        return self.proc.returncode


def scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """GET /metrics and return {(sample name, sorted labels): value}."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
        text = r.read().decode()
    samples = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return samples


def sample(samples: dict, name: str, **labels: str) -> float | None:
    return samples.get((name, tuple(sorted(labels.items()))))


def wandb_records(path: Path) -> Iterator[object]:
    """The protobuf records of a wandb run file (``run-<id>.wandb``), in order.

    The file is a 7-byte wandb header followed by LevelDB's log format: 32 KiB
    blocks of chunks, each ``crc32c:u32 length:u16 type:u8`` then data; types
    full=1, first=2, middle=3, last=4. wandb 0.31 ships no reader for it.
    """
    from wandb.proto import wandb_internal_pb2

    data = path.read_bytes()
    assert data[:4] == b":W&B", f"{path} is not a wandb run file"
    block, pos, pending = 32768, 7, b""
    while pos + 7 <= len(data):
        left = block - pos % block
        if left < 7:
            pos += left
            continue
        _crc, length, kind = struct.unpack("<IHB", data[pos:pos + 7])
        if kind == 0:  # block padding
            pos += left
            continue
        chunk = data[pos + 7:pos + 7 + length]
        pos += 7 + length
        if kind == 1:
            whole = chunk
        elif kind == 2:
            pending = chunk
            continue
        elif kind == 3:
            pending += chunk
            continue
        else:
            whole = pending + chunk
        record = wandb_internal_pb2.Record()
        record.ParseFromString(whole)
        yield record


def wandb_history(path: Path) -> list[dict[str, str]]:
    """Every ``run.log`` row of a wandb run file, as {key: JSON value}."""
    rows = []
    for record in wandb_records(path):
        if record.WhichOneof("record_type") == "history":
            rows.append({item.key or "/".join(item.nested_key): item.value_json for item in record.history.item})
    return rows
