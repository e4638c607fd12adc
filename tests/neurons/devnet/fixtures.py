"""Test helpers for the devnet: a steppable clock, deterministic wallets, a seeded chain.

Imported by tests/neurons/devnet, tests/neurons/chain and the weight-write test in
tests/neurons/validating (plain functions and classes, no
pytest fixtures, so nothing here runs on import).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import bittensor as bt

from neurons.devnet import runtime
from neurons.devnet.store import Store
from neurons.devnet.substrate import DevnetSubstrate

BLOCK_TIME = 1.0


class StepClock:
    """A clock that only moves when told: ``advance(blocks)``."""

    def __init__(self, start: float = 1_000_000.0):
        self.t = start

    def __call__(self) -> float:
        return self.t

    def advance(self, blocks: float) -> None:
        self.t += blocks * BLOCK_TIME


def make_wallet(root: Path, name: str, seed: int) -> bt.Wallet:
    """An unencrypted wallet with keys derived from ``seed`` (same seed, same keys)."""
    wallet = bt.Wallet(name, "default", path=str(root))
    wallet.regenerate_coldkey(
        seed="0x" + f"{seed:02x}" * 32, use_password=False, overwrite=True, suppress=True
    )
    wallet.regenerate_hotkey(
        seed="0x" + f"{seed + 100:02x}" * 32, use_password=False, overwrite=True, suppress=True
    )
    return bt.Wallet(name, "default", path=str(root))


@dataclass
class Devnet:
    path: Path
    clock: StepClock
    store: Store

    def client(self) -> bt.Client:
        """A real SDK client on this devnet (its own Store connection)."""
        return bt.Client("devnet", substrate=DevnetSubstrate(self.open()))

    def open(self) -> Store:
        return Store(self.path, clock=self.clock)

    def dump(self) -> list:
        """Every row of every table, for "nothing was written" checks."""
        conn = self.store._conn
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        return [(t, sorted(conn.execute(f"SELECT * FROM {t}").fetchall())) for t in sorted(tables)]

    def permit(self, netuid: int, wallet: bt.Wallet) -> None:
        with self.store.transaction() as conn:
            runtime.set_permit(conn, netuid, wallet.hotkeypub.ss58_address, True)


def make_devnet(tmp: Path, *, netuid: int = 2, **params) -> Devnet:
    """A devnet at ``tmp/chain.sqlite`` with one subnet, on a step clock."""
    clock = StepClock()
    store = Store(tmp / "chain.sqlite", block_time=BLOCK_TIME, clock=clock, create=True)
    with store.transaction() as conn:
        runtime.create_subnet(conn, store.block(conn), netuid, runtime.SubnetParams(**params))
    return Devnet(tmp / "chain.sqlite", clock, store)


async def register(client: bt.Client, wallet: bt.Wallet, netuid: int = 2) -> bt.ExtrinsicResult:
    call = bt.calls.SubtensorModule.burned_register(
        netuid=netuid, hotkey=wallet.hotkeypub.ss58_address
    )
    return await client.submit_call(call, wallet)


async def stake(client: bt.Client, wallet: bt.Wallet, tao: float, netuid: int = 2):
    call = bt.calls.SubtensorModule.add_stake(
        hotkey=wallet.hotkeypub.ss58_address, netuid=netuid, amount_staked=int(tao * 1e9)
    )
    return await client.submit_call(call, wallet)


# The ``bittensor.Substrate`` methods that ask the chain something (on a real network each
# is at least one RPC); ``submit`` is the write. ``compose`` and ``decode_scale`` are local.
_READS = frozenset({
    "block_hash", "block_number", "finalized_block_number", "block_time", "spec_version",
    "get_block", "query", "map_has_entries", "query_map", "query_batch", "runtime_call",
    "constant", "events", "estimate_fee", "estimate_weight", "account_next_index",
    "mev_next_key", "find_extrinsic",
})
# Reads whose fourth positional argument (or ``block_hash=``) only pins the block.
_PINNED = frozenset({"query", "map_has_entries", "query_map", "query_batch", "runtime_call"})


def _frozen(value: Any) -> Any:
    """A hashable, address-free stand-in for a read's argument."""
    if isinstance(value, (list, tuple)):
        return tuple(_frozen(v) for v in value)
    if isinstance(value, dict):
        return tuple(sorted((k, _frozen(v)) for k, v in value.items()))
    if value is None or isinstance(value, (str, bytes, int, float, bool)):
        return value
    if hasattr(value, "data"):  # a composed call
        return bytes(value.data)
    if hasattr(value, "ss58_address"):  # a keypair
        return value.ss58_address
    return repr(value)


class CountingSubstrate:
    """Wraps a ``bittensor.Substrate`` and records what is asked of the chain.

    ``reads`` lists one ``(tag, key)`` per read, in order: ``key`` is the
    method and its arguments without the block pin (``query`` of the same
    item and key at two block hashes is the same read twice), ``tag`` is
    whatever the test set ``tag`` to at the time. ``submits`` counts writes.
    Everything else passes straight through.
    """

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self.reads: list[tuple[str, tuple]] = []
        self.submits = 0
        self.tag = ""

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._inner, name)
        if name == "submit":
            async def submit(*args: Any, **kwargs: Any) -> Any:
                self.submits += 1
                return await attr(*args, **kwargs)

            return submit
        if name not in _READS:
            return attr

        async def read(*args: Any, **kwargs: Any) -> Any:
            kept = args[:3] if name in _PINNED else args
            extra = {k: v for k, v in kwargs.items() if k != "block_hash"}
            self.reads.append((self.tag, (name, *map(_frozen, kept), _frozen(extra))))
            return await attr(*args, **kwargs)

        return read
