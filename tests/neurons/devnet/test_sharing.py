"""Several connections and several processes share one devnet file safely."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import subprocess
import sys

import bittensor as bt
import pytest

from neurons.devnet import admin
from neurons.devnet.store import Store
from neurons.devnet.substrate import DevnetSubstrate
from tests.support.devnet import register
from tests.support.paths import REPO_ROOT

ROOT = REPO_ROOT


def test_two_connections_see_each_others_writes(devnet, wallets):
    """A write through client A is visible to client B on its own sqlite connection."""

    async def go():
        a, b = devnet.client(), devnet.client()
        await a.connect()
        await b.connect()
        assert (await register(a, wallets["miner"])).success
        seen_by_b = await b.subnets.metagraph(2)
        assert (await register(b, wallets["miner2"])).success
        seen_by_a = await a.subnets.metagraph(2)
        await a.close()
        await b.close()
        return seen_by_b, seen_by_a

    seen_by_b, seen_by_a = asyncio.run(go())
    assert seen_by_b.hotkeys == [wallets["miner"].hotkeypub.ss58_address]
    assert len(seen_by_a.neurons) == 2


_REGISTER = """
import asyncio, sys
import bittensor as bt
from neurons.devnet.store import Store
from neurons.devnet.substrate import DevnetSubstrate
state, wallets, names = sys.argv[1], sys.argv[2], sys.argv[3:]
async def main():
    async with bt.Client("devnet", substrate=DevnetSubstrate(Store(state))) as client:
        for name in names:
            wallet = bt.Wallet(name, "default", path=wallets)
            call = bt.calls.SubtensorModule.burned_register(netuid=2, hotkey=wallet.hotkeypub.ss58_address)
            result = await client.submit_call(call, wallet)
            assert result.success, result.message
asyncio.run(main())
"""


def test_concurrent_processes_register_without_losing_writes(tmp_path, wallets):
    """Two processes register different hotkeys at once: every hotkey gets a distinct uid."""
    state = tmp_path / "shared.sqlite"
    admin.create_subnet(2, state=state, block_time=0.25)
    wallet_root = wallets["miner"].path
    env = {**os.environ, "PYTHONPATH": str(ROOT), "BTCLI_TOKEN_SYMBOLS_CACHE": str(tmp_path / "s.json")}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _REGISTER, str(state), wallet_root, *names],
            env=env, stderr=subprocess.PIPE, text=True,
        )
        for names in (["validator", "miner"], ["validator2", "miner2"])
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err

    async def read():
        async with bt.Client("devnet", substrate=DevnetSubstrate(Store(state))) as client:
            return await client.subnets.metagraph(2)

    graph = asyncio.run(read())
    assert sorted(n.uid for n in graph.neurons) == [0, 1, 2, 3]
    assert sorted(graph.hotkeys) == sorted(
        wallets[n].hotkeypub.ss58_address for n in ("validator", "miner", "validator2", "miner2")
    )


def test_blocks_follow_wall_time_and_block_time_changes_keep_the_height(tmp_path):
    from tests.support.devnet import StepClock

    clock = StepClock()
    store = Store(tmp_path / "c.sqlite", block_time=2.0, clock=clock, create=True)
    assert store.block() == 1
    clock.t += 5.0
    assert store.block() == 3
    store.set_block_time(0.5)
    assert store.block() == 3
    clock.t += 1.0
    assert store.block() == 5
    reopened = Store(tmp_path / "c.sqlite", block_time=9.0, clock=clock)
    assert reopened.block_time() == 0.5 and reopened.block() == 5


def test_a_state_file_without_its_block_time_is_a_database_error_naming_it(tmp_path):
    Store(tmp_path / "c.sqlite", create=True).close()
    with sqlite3.connect(tmp_path / "c.sqlite") as conn:
        conn.execute("DELETE FROM meta WHERE key = 'block_time'")
    damaged = Store(tmp_path / "c.sqlite")
    with pytest.raises(sqlite3.DatabaseError, match="no block_time"):
        damaged.block()
