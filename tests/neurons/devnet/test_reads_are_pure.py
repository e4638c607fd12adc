"""Reading never changes the devnet: the state at block N is a function of the
block (and the writes before it), not of when or whether anyone read it.

Epochs are applied inside every transaction at the block it runs at; a read
rolls them back, a write commits them before its own changes (as subtensor
runs the epoch in ``on_initialize``, before the block's extrinsics).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import sqlite3
from pathlib import Path

import bittensor as bt

from neurons.devnet import runtime
from neurons.devnet.runtime import U16_MAX
from tests.support.devnet import Devnet, StepClock, make_devnet

NETUID = 2


def _chain(root: Path) -> tuple[Devnet, str]:
    """Validator uid 0 (permitted, staked) has set weights on miner uid 1; no epoch since."""
    # Commit-reveal off: the weights are in place before the epoch under test.
    net = make_devnet(root, clock=StepClock(), tempo=4, weights_rate_limit=0,
                      validators=["validator"], miners=["miner"], commit_reveal_weights_enabled=False)
    hotkey = bt.wallets.open_wallet("validator", path=str(net.wallets)).hotkeypub.ss58_address
    # A block after the miner's registration: Yuma drops weights set at or before the block a
    # uid registered (subtensor epoch_mechanism, "outdated" weights).
    net.clock.advance(1)
    with contextlib.closing(net.open()) as store, store.write() as (conn, block):
        runtime.dispatch(conn, block, "SubtensorModule", "set_mechanism_weights",
                         {"netuid": NETUID, "mecid": 0, "dests": [1], "weights": [U16_MAX],
                          "version_key": 1 << 30}, hotkey)
    return net, hotkey


def _to_next_boundary(net: Devnet) -> None:
    """Advance the clock to just past the next epoch boundary (nobody touches the chain)."""
    assert net.clock is not None
    with contextlib.closing(net.open()) as store, store.read() as (conn, block):
        last, tempo = conn.execute(
            "SELECT last_epoch_block, tempo FROM subnets WHERE netuid = ?", (NETUID,)
        ).fetchone()
    net.clock.advance(last + tempo - block + 0.5)


def _read(net: Devnet, name: str) -> object:
    async def go():
        async with net.client() as client:
            return await client.query(("SubtensorModule", name), [NETUID])

    return asyncio.run(go())


def _file_bytes(net: Devnet) -> dict[str, str]:
    files = [net.state, net.state.with_name(net.state.name + "-wal")]
    return {f.name: hashlib.sha256(f.read_bytes()).hexdigest() for f in files if f.exists()}


def test_an_epoch_due_before_an_admin_write_sees_the_state_before_it_whether_or_not_anyone_read(tmp_path):
    # Two identical chains; the boundary passes; on one someone reads first.
    read_first, _ = _chain(tmp_path / "read_first")
    unread, _ = _chain(tmp_path / "unread")
    for net in (read_first, unread):
        _to_next_boundary(net)
    assert _read(read_first, "Incentive") == [0, U16_MAX]
    # Then, in the same block, the devnet's sudo revokes the validator's permit.
    for net in (read_first, unread):
        with contextlib.closing(net.open()) as store, store.transaction() as conn:
            runtime.set_permit(conn, NETUID, _hotkey(net, "validator"), False)
    # The epoch at the boundary ran before the revocation on both chains.
    assert _read(unread, "Incentive") == _read(read_first, "Incentive") == [0, U16_MAX]
    assert _read(unread, "LastEpochBlock") == _read(read_first, "LastEpochBlock")


def _hotkey(net: Devnet, name: str) -> str:
    return bt.wallets.open_wallet(name, path=str(net.wallets)).hotkeypub.ss58_address


def test_two_reads_of_one_block_at_different_wall_times_agree_and_leave_the_file_untouched(tmp_path):
    net, _ = _chain(tmp_path)
    _to_next_boundary(net)  # an epoch is due: a read applies it but must not write it
    before = _file_bytes(net)
    early = (_read(net, "Incentive"), _read(net, "LastEpochBlock"), net.dump())
    assert net.clock is not None
    net.clock.advance(0.4)  # later wall time, same block
    late = (_read(net, "Incentive"), _read(net, "LastEpochBlock"), net.dump())
    assert early == late and early[0] == [0, U16_MAX]
    assert _file_bytes(net) == before


def test_a_read_when_no_boundary_has_passed_leaves_the_file_untouched(tmp_path):
    net, _ = _chain(tmp_path)
    before = _file_bytes(net)
    assert _read(net, "Incentive") == [0, 0]  # weights set, no epoch yet
    assert _file_bytes(net) == before


def test_the_first_write_after_a_boundary_commits_that_epoch(tmp_path):
    net, _ = _chain(tmp_path)
    _to_next_boundary(net)
    with contextlib.closing(net.open()) as store, store.transaction():
        pass  # an empty write: only the due epoch
    with contextlib.closing(sqlite3.connect(net.state)) as raw:  # the committed rows, as stored
        committed = raw.execute(
            "SELECT incentive FROM neurons WHERE netuid = ? ORDER BY uid", (NETUID,)
        ).fetchall()
    assert committed == [(0,), (U16_MAX,)]


def test_after_a_tempo_change_the_next_epoch_is_last_epoch_block_plus_the_new_tempo(tmp_path):
    # Subtensor's stateful schedule: epochs at LastEpochBlock + k * tempo, not a grid from creation.
    net, _ = _chain(tmp_path)
    _to_next_boundary(net)
    with contextlib.closing(net.open()) as store, store.write() as (conn, block):
        runtime.set_hyperparameter(conn, block, NETUID, "tempo", 10)
    last = _read(net, "LastEpochBlock")
    assert isinstance(last, int) and block == last  # the boundary epoch ran before the change
    seen = {}
    assert net.clock is not None
    for _ in range(12):
        net.clock.advance(1)
        with contextlib.closing(net.open()) as store, store.read() as (conn, now):
            seen[now - last] = _last_epoch(conn)
    assert all(seen[k] == last for k in range(1, 10)) and seen[10] == seen[11] == last + 10


def test_a_tempo_change_between_boundaries_restarts_the_epoch_cycle_at_that_block(tmp_path):
    """subtensor's apply_tempo_with_cycle_reset: LastEpochBlock becomes the block of the change,
    so the next epoch is that block plus the new tempo, not the old anchor plus it."""
    net, _ = _chain(tmp_path)
    _to_next_boundary(net)
    assert net.clock is not None
    net.clock.advance(2)
    with contextlib.closing(net.open()) as store, store.write() as (conn, changed_at):
        runtime.set_hyperparameter(conn, changed_at, NETUID, "tempo", 10)
    assert _read(net, "LastEpochBlock") == changed_at
    net.clock.advance(9)
    with contextlib.closing(net.open()) as store, store.read() as (conn, now):
        assert now == changed_at + 9 and _last_epoch(conn) == changed_at
    net.clock.advance(1)
    with contextlib.closing(net.open()) as store, store.read() as (conn, now):
        assert _last_epoch(conn) == changed_at + 10


def _last_epoch(conn: sqlite3.Connection) -> int:
    return conn.execute("SELECT last_epoch_block FROM subnets WHERE netuid = ?", (NETUID,)).fetchone()[0]
