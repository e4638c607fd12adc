"""The one devnet builder for tests: a state file, a wallet folder, a subnet, registered wallets.

Two kinds of caller, one builder:

- SDK contract and chain-access tests run in process on a :class:`StepClock`
  (``make_devnet(tmp, clock=StepClock(), tempo=4)``): blocks move only when the
  test says, and ``client()`` / ``open()`` give real SDK clients and stores on
  that clock;
- subprocess tests start the entry scripts on it (``make_devnet(tmp,
  validators=("val",), miners=("m1",))``, wall-clock blocks): ``chain_flags()``
  points a script at the state file and the wallet folder, ``cli()`` is the
  admin CLI's argv.

Registration and stake go through the real SDK, signed by the wallet, on the
devnet's own clock; the subnet and permits are written to the state directly,
as ``neurons.devnet.admin`` does. :class:`CountingSubstrate` wraps any
``bittensor.Substrate`` to count what a caller asks of the chain. Nothing runs
on import.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import bittensor as bt

from neurons.devnet import runtime
from neurons.devnet.store import Store
from neurons.devnet.substrate import DevnetSubstrate
from tests.support.paths import PYTHON
from tests.support.wallets import make_wallet

__all__ = [
    "BLOCK_TIME",
    "NETUID",
    "CountingSubstrate",
    "Devnet",
    "StepClock",
    "make_devnet",
    "older_state_file",
    "register",
    "stake",
]

NETUID = 2
BLOCK_TIME = 1.0


class StepClock:
    """A clock that only moves when told: ``advance(blocks)`` (of :data:`BLOCK_TIME` each)."""

    def __init__(self, start: float = 1_000_000.0) -> None:
        self.t = start

    def __call__(self) -> float:
        return self.t

    def advance(self, blocks: float) -> None:
        self.t += blocks * BLOCK_TIME


@dataclass(frozen=True)
class Devnet:
    """Where a devnet lives: its state file, its wallet folder, its subnet, its clock.

    ``clock`` is None for wall-clock time (what processes started on it see).
    Built directly it is only paths (nothing is created); :func:`make_devnet`
    creates the chain. Every method opens its own store and closes it.
    """

    state: Path
    wallets: Path
    netuid: int = NETUID
    clock: StepClock | None = None

    def open(self) -> Store:
        """A new connection to the state file, on the devnet's clock (the caller closes it)."""
        return Store(self.state, clock=self.clock or time.time)

    def client(self) -> bt.Client:
        """A real SDK client on this devnet (its own store connection, closed with the client)."""
        return bt.Client("devnet", substrate=DevnetSubstrate(self.open()))

    def dump(self) -> list[tuple[str, list[tuple]]]:
        """Every row of every table as a read at the current block sees it (due epochs
        applied, nothing committed), for "nothing was written" checks."""
        with contextlib.closing(self.open()) as store, store.read() as (conn, _block):
            tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
            return [(t, sorted(conn.execute(f"SELECT * FROM {t}").fetchall())) for t in sorted(tables)]

    def permit(self, netuid: int, wallet: bt.Wallet, granted: bool = True) -> None:
        """Grant (or revoke) the wallet's registered hotkey's validator permit on ``netuid``: the
        admin's override, which every later epoch keeps over the stake rank."""
        with contextlib.closing(self.open()) as store, store.transaction() as conn:
            runtime.set_permit(conn, netuid, wallet.hotkeypub.ss58_address, granted)

    def score(self, scores: dict[int, tuple[int, int]]) -> None:
        """Write ``{uid: (incentive, dividends)}`` (u16 fractions) on the subnet as the last epoch
        would have left them, so a pruning test picks its scores without depending on how the
        epoch computes them (use a tempo no test step reaches, or the next epoch rewrites them)."""
        with contextlib.closing(self.open()) as store, store.transaction() as conn:
            for uid, (incentive, dividends) in scores.items():
                conn.execute(
                    "UPDATE neurons SET incentive = ?, dividends = ? WHERE netuid = ? AND uid = ?",
                    (incentive, dividends, self.netuid, uid),
                )

    def advance_past_registration(self) -> int:
        """Move the step clock to the first epoch block at which every neuron on the subnet may
        set weights; returns that block.

        A new uid's ``LastUpdate`` is its registration block (subtensor
        ``subnets/uids.rs::append_neuron``), so weights wait ``weights_rate_limit`` blocks after
        registering. It lands on an epoch block (``created + k * tempo``) and runs that epoch,
        as any chain read there would: the ``tempo - 1`` blocks after it have none pending, so
        a test's before/after dumps taken inside them compare only what the call under test
        wrote.
        """
        assert self.clock is not None, "only a StepClock devnet can be advanced"
        with contextlib.closing(self.open()) as store, store.transaction() as conn:
            block = store.block(conn)
            tempo, limit, created = conn.execute(
                "SELECT tempo, weights_rate_limit, created_block FROM subnets WHERE netuid = ?",
                (self.netuid,),
            ).fetchone()
            (last,) = conn.execute(
                "SELECT COALESCE(MAX(last_update), 0) FROM neurons WHERE netuid = ?", (self.netuid,)
            ).fetchone()
        ready = max(block, last + limit)
        target = created + tempo * -(-(ready - created) // tempo)
        self.clock.advance(target - block)
        with contextlib.closing(self.open()) as store, store.transaction() as conn:
            runtime.run_epochs(conn, store.block(conn))
        return target

    def chain_flags(self) -> list[str]:
        """The entry scripts' flags that point them at this subnet, state file and wallet folder."""
        return ["--netuid", str(self.netuid), "--subtensor.network", "devnet",
                "--subtensor.devnet_state", str(self.state), "--wallet.path", str(self.wallets)]

    def cli(self, *args: str) -> list[str]:
        """argv of ``python -m neurons.devnet ARGS`` on this state file and wallet folder."""
        return [PYTHON, "-m", "neurons.devnet", *args, "--state", str(self.state),
                "--wallet.path", str(self.wallets)]


def make_devnet(
    root: Path,
    *,
    netuid: int = NETUID,
    clock: StepClock | None = None,
    block_time: float = BLOCK_TIME,
    validators: Sequence[str] = (),
    miners: Sequence[str] = (),
    unregistered: Sequence[str] = (),
    validator_stake: float = 1000.0,
    owner: str | None = None,
    **params: int,
) -> Devnet:
    """A devnet at ``root/chain.sqlite`` with subnet ``netuid`` (``params``: its
    :class:`~neurons.devnet.runtime.SubnetParams`), wallets in ``root/wallets``.

    Wallets are made with :func:`make_wallet`, seeded by their position in
    ``validators + miners + unregistered`` (same names, same keys, every run).
    In that order: validators are registered, staked ``validator_stake`` TAO
    and permitted (uids 0..), then miners are registered; ``unregistered``
    wallets exist but are not on chain. ``owner`` names one of those wallets: its coldkey
    is the subnet's ``SubnetOwner``, its hotkey the ``SubnetOwnerHotkey`` (default: no owner).
    Raises ``AssertionError`` naming the wallet if the chain refuses a registration or a stake.
    """
    net = Devnet(root / "chain.sqlite", root / "wallets", netuid, clock)
    names = (*validators, *miners, *unregistered)
    made = {name: make_wallet(net.wallets, name, seed) for seed, name in enumerate(names)}
    keys = {}
    if owner is not None:
        keys = {"owner": made[owner].coldkeypub.ss58_address,
                "owner_hotkey": made[owner].hotkeypub.ss58_address}
    store = Store(net.state, block_time=block_time, clock=clock or time.time, create=True)
    try:
        with store.transaction() as conn:
            runtime.create_subnet(conn, store.block(conn), netuid, runtime.SubnetParams(**params), **keys)
    finally:
        store.close()
    if validators or miners:
        asyncio.run(_register(net, [made[n] for n in (*validators, *miners)],
                              [made[n] for n in validators], validator_stake))
    for name in validators:
        net.permit(netuid, made[name])
    return net


def older_state_file(path: Path, *, subnets_before: str, drop_tables: Sequence[str] = ()) -> None:
    """A state file at ``path`` as a release from before the ``subnets`` column ``subnets_before``
    wrote it: subnet 2 (tempo 4, weights rate limit 3, otherwise the defaults) made by today's
    code, then that column and every later one dropped, and ``drop_tables`` dropped, so that
    opening it must migrate what those releases lacked (``store._ADDED_COLUMNS``)."""
    store = Store(path, create=True)
    try:
        with store.transaction() as conn:
            runtime.create_subnet(conn, store.block(conn), 2,
                                  runtime.SubnetParams(tempo=4, weights_rate_limit=3))
    finally:
        store.close()
    with contextlib.closing(sqlite3.connect(path)) as conn, conn:
        columns = [row[1] for row in conn.execute("PRAGMA table_info(subnets)")]
        for column in columns[columns.index(subnets_before):]:
            conn.execute(f"ALTER TABLE subnets DROP COLUMN {column}")
        for table in drop_tables:
            conn.execute(f"DROP TABLE {table}")


async def _register(net: Devnet, wallets: list[bt.Wallet], staked: list[bt.Wallet], amount: float) -> None:
    async with net.client() as client:
        for wallet in wallets:
            result = await register(client, wallet, net.netuid)
            assert result.success, f"devnet setup: register {wallet.name}: {result.message}"
        for wallet in staked:
            result = await stake(client, wallet, amount, net.netuid)
            assert result.success, f"devnet setup: stake {wallet.name}: {result.message}"


async def register(client: bt.Client, wallet: bt.Wallet, netuid: int = NETUID) -> bt.ExtrinsicResult:
    """``burned_register`` of the wallet's hotkey, signed by its coldkey, through the SDK."""
    call = bt.calls.SubtensorModule.burned_register(
        netuid=netuid, hotkey=wallet.hotkeypub.ss58_address
    )
    return await client.submit_call(call, wallet)


async def stake(client: bt.Client, wallet: bt.Wallet, tao: float, netuid: int = NETUID) -> bt.ExtrinsicResult:
    """``add_stake`` of ``tao`` from the wallet's coldkey onto its hotkey, through the SDK."""
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
