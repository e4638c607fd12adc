"""Test helpers for the devnet: a steppable clock, deterministic wallets, a seeded chain.

Imported by tests/devnet and tests/neurons/chain (plain functions, no
pytest fixtures, so nothing here runs on import).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

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
