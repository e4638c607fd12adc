"""Devnet admin operations, importable (the local-subnet runner calls these in process).

Chain writes a user would make on a real network (register, stake) go through
:class:`neurons.chain.Chain` and the real SDK, signed by the wallet. Operations
that need the chain's root on a real network (create a subnet with chosen
hyperparameters, grant a validator permit) write the devnet state directly.

Every failure raises :class:`DevnetError` (or a ``neurons.chain.ChainFailure``)
with one line that says what to do.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import bittensor as bt

from neurons.chain import DEFAULT_DEVNET_STATE, DEFAULT_WALLET_PATH, Chain, MetagraphView, load_wallet

from . import runtime
from .connect import DevnetStateMissing, connect_devnet
from .runtime import SubnetParams
from .store import StateMissing, Store

__all__ = [
    "DevnetError",
    "open_store",
    "block_time",
    "open_chain",
    "create_subnet",
    "wallet_create",
    "register",
    "stake",
    "permit",
    "clear_permit",
    "set_stake_threshold",
    "set_hyperparameter",
    "deregister",
    "swap_hotkey",
    "metagraph",
    "format_metagraph",
    "MetagraphReport",
    "Reveal",
    "PendingCommit",
    "RevealReport",
    "reveals",
    "format_reveals",
]

_RAO_PER_TAO = 10**9


class DevnetError(Exception):
    """An admin operation failed; ``str(e)`` is one line that says what to do."""


def open_store(
    state: Path | None = None,
    *,
    block_time: float | None = None,
    create: bool = False,
    netuid: int | None = None,
    clock: Callable[[], float] = time.time,
) -> Store:
    """The devnet state at ``state`` (default ``~/.bittensor/devnet/chain.sqlite``).

    Only :func:`create_subnet` passes ``create``; otherwise an absent file raises
    ``DevnetStateMissing`` (naming the create-subnet command for ``netuid``) and
    nothing is written.
    """
    path = state or DEFAULT_DEVNET_STATE
    try:
        return Store(path, block_time=block_time, create=create, clock=clock)
    except StateMissing:
        raise DevnetStateMissing.at(path, netuid) from None


def block_time(state: Path | None = None) -> float:
    """The chain's seconds per block (``DevnetStateMissing`` if there is no chain at ``state``)."""
    store = open_store(state)
    try:
        return store.block_time()
    finally:
        store.close()


async def open_chain(state: Path | None = None, *, netuid: int | None = None) -> Chain:
    """A :class:`Chain` on the existing devnet at ``state`` (``DevnetStateMissing`` if absent)."""
    return await connect_devnet(state, netuid=netuid)


def create_subnet(
    netuid: int,
    *,
    state: Path | None = None,
    params: SubnetParams = SubnetParams(),
    block_time: float | None = None,
) -> int:
    """Create subnet ``netuid``; ``block_time`` (seconds) also sets the chain's block time.

    Returns the block the subnet was created at.
    """
    try:
        store = open_store(state, block_time=block_time, create=True)
    except ValueError as error:
        raise DevnetError(f"create-subnet: {error}") from None
    try:
        if block_time is not None and block_time != store.block_time():
            store.set_block_time(block_time)
        with store.transaction() as conn:
            block = store.block(conn)
            runtime.create_subnet(conn, block, netuid, params)
        return block
    except runtime.DispatchError as error:
        raise DevnetError(f"create-subnet: {error.docs}") from None
    except ValueError as error:
        raise DevnetError(f"create-subnet: {error}") from None
    finally:
        store.close()


def wallet_create(name: str, hotkey: str, path: Path | None = None) -> bt.Wallet:
    """Create an unencrypted coldkey (if absent) and hotkey (if absent); no prompts.

    Existing keys are kept, so this is safe to re-run. Mnemonics are not printed.
    """
    root = Path(path or DEFAULT_WALLET_PATH).expanduser()
    wallet = bt.Wallet(name, hotkey, path=str(root))
    quiet = lambda *_: None  # noqa: E731
    if not (root / name / "coldkeypub.txt").exists():
        wallet.create_new_coldkey(use_password=False, overwrite=False, on_mnemonic=quiet)
    if not (root / name / "hotkeys" / hotkey).exists():
        wallet.create_new_hotkey(use_password=False, overwrite=False, on_mnemonic=quiet)
    return wallet


async def register(
    netuid: int, wallet_name: str, hotkey: str, *, state: Path | None = None,
    wallet_path: Path | None = None,
) -> int:
    """Register the wallet's hotkey on ``netuid`` (burned_register via the SDK).

    Returns the new uid.
    """
    wallet = load_wallet(wallet_name, hotkey, wallet_path or DEFAULT_WALLET_PATH)
    chain = await open_chain(state, netuid=netuid)
    try:
        result = await chain.register(wallet, netuid)
        if not result.ok:
            raise DevnetError(f"register: {result.error}")
        uid = await chain.uid_of(netuid, wallet.hotkeypub.ss58_address)
    finally:
        await chain.close()
    if uid is None:
        raise DevnetError(f"register: the chain accepted the call but netuid {netuid} has no uid "
                          "for the hotkey; this is a devnet bug")
    return uid


async def stake(
    netuid: int, wallet_name: str, hotkey: str, amount: float, *, state: Path | None = None,
    wallet_path: Path | None = None,
) -> None:
    """Stake ``amount`` TAO from the wallet's coldkey onto its hotkey (add_stake via the SDK)."""
    wallet = load_wallet(wallet_name, hotkey, wallet_path or DEFAULT_WALLET_PATH)
    chain = await open_chain(state, netuid=netuid)
    try:
        result = await chain.add_stake(wallet, netuid, amount)
    finally:
        await chain.close()
    if not result.ok:
        raise DevnetError(f"stake: {result.error}")


def permit(
    netuid: int, hotkey_ss58: str, *, granted: bool = True, state: Path | None = None
) -> int:
    """Grant (or revoke) a registered hotkey's validator permit now, as an override that wins
    over the epoch's stake rank until :func:`clear_permit`; returns its uid."""
    return _permit_write(netuid, hotkey_ss58, state,
                         lambda conn: runtime.set_permit(conn, netuid, hotkey_ss58, granted))


def clear_permit(netuid: int, hotkey_ss58: str, *, state: Path | None = None) -> int:
    """Drop the hotkey's permit override: from the next epoch its permit follows its stake rank
    again (it keeps its current permit until then); returns its uid."""
    return _permit_write(netuid, hotkey_ss58, state,
                         lambda conn: runtime.clear_permit_override(conn, netuid, hotkey_ss58))


def _permit_write(netuid: int, hotkey_ss58: str, state: Path | None, write: Callable[[Any], int]) -> int:
    store = open_store(state, netuid=netuid)
    try:
        with store.transaction() as conn:
            return write(conn)
    except runtime.DispatchError as error:
        raise DevnetError(
            f"permit: {error.docs}; register it first with "
            f"python -m neurons.devnet register --netuid {netuid}"
        ) from None
    finally:
        store.close()


def set_stake_threshold(tao: float, *, state: Path | None = None) -> float:
    """Set the chain-wide stake threshold (subtensor's root-only ``StakeThreshold``) to ``tao``:
    at each epoch, stake under it counts as none, so it earns no validator permit. Returns the
    previous threshold in TAO."""
    if not tao >= 0:
        raise DevnetError(f"set-stake-threshold: the amount must be >= 0 TAO, got {tao:g}")
    store = open_store(state)
    try:
        with store.transaction() as conn:
            return runtime.set_stake_threshold(conn, round(tao * _RAO_PER_TAO)) / _RAO_PER_TAO
    except runtime.DispatchError as error:
        raise DevnetError(f"set-stake-threshold: {error.docs}") from None
    finally:
        store.close()


def set_hyperparameter(netuid: int, name: str, value: int, *, state: Path | None = None) -> int:
    """Set a hyperparameter of a running subnet (``runtime.HYPERPARAMETERS``: the SDK's names);
    returns the previous value. Neurons see it at their next read, as on a real chain."""
    store = open_store(state, netuid=netuid)
    try:
        with store.write() as (conn, block):
            return runtime.set_hyperparameter(conn, block, netuid, name, value)
    except runtime.DispatchError as error:
        raise DevnetError(f"set-hyperparameter: {error}") from None
    finally:
        store.close()


def deregister(
    netuid: int, hotkey_ss58: str, replacement: bt.Wallet, *, state: Path | None = None
) -> int:
    """Deregister a hotkey from ``netuid``: the ``replacement`` wallet's hotkey takes its uid
    (``runtime.replace_neuron``, subtensor's replace semantics: a uid is never left empty).
    Returns the uid."""
    store = open_store(state, netuid=netuid)
    try:
        with store.transaction() as conn:
            return runtime.replace_neuron(
                conn, store.block(conn), netuid, hotkey_ss58,
                replacement.hotkeypub.ss58_address, replacement.coldkeypub.ss58_address,
            )
    except runtime.DispatchError as error:
        raise DevnetError(f"deregister: {error}") from None
    finally:
        store.close()


def swap_hotkey(
    wallet: bt.Wallet, new_hotkey_ss58: str, *, state: Path | None = None
) -> list[int]:
    """Move the wallet's hotkey's uids on every subnet to ``new_hotkey_ss58``, as the wallet's
    coldkey (``runtime.swap_hotkey``: subtensor swap_hotkey). Returns the netuids it moved on."""
    store = open_store(state)
    try:
        with store.transaction() as conn:
            return runtime.swap_hotkey(
                conn, wallet.hotkeypub.ss58_address, new_hotkey_ss58,
                wallet.coldkeypub.ss58_address,
            )
    except runtime.DispatchError as error:
        raise DevnetError(f"swap-hotkey: {error}") from None
    finally:
        store.close()


_NO_IMMUNITY = runtime.Immunity(frozenset(), frozenset())


@dataclass(frozen=True)
class MetagraphReport:
    """A metagraph plus each neuron's last weights (uid -> fraction) and which uids a
    registration on a full subnet would spare (``runtime.immunity``)."""

    view: MetagraphView
    weights: dict[int, dict[int, float]]
    immunity: runtime.Immunity = _NO_IMMUNITY


async def metagraph(netuid: int, *, state: Path | None = None) -> MetagraphReport:
    """The subnet's metagraph as the SDK decodes it, plus the weight rows, plus its immunity
    (read from the state at the metagraph's block: the SDK has no read for it)."""
    chain = await open_chain(state, netuid=netuid)
    try:
        view = await chain.metagraph(netuid)
        rows = {n.uid: await chain.weights_of(netuid, n.uid) for n in view.neurons}
    finally:
        await chain.close()
    store = open_store(state, netuid=netuid)
    try:
        with store.read() as (conn, _block):
            immunity = runtime.immunity(conn, view.block, netuid)
    finally:
        store.close()
    return MetagraphReport(view, rows, immunity)


def format_metagraph(report: MetagraphReport) -> str:
    """A plain-text table: uid, hotkey, stake, permit, axon, incentive, last update, immune
    (``owner``, ``yes`` inside its immunity period, ``no``), weights."""
    view = report.view
    header = f"{'UID':>4}  {'HOTKEY':<14}  {'STAKE':>12}  {'VPERMIT':<7}  {'AXON':<21}  " \
        f"{'INCENTIVE':>9}  {'UPDATED':>7}  {'IMMUNE':<6}  WEIGHTS"
    lines = [f"netuid {view.netuid} at block {view.block}: {len(view.neurons)} neurons", header]
    for n in view.neurons:
        axon = f"{n.axon[0]}:{n.axon[1]}" if n.axon else "-"
        row = report.weights.get(n.uid) or {}
        weights = " ".join(f"{uid}:{w:.3f}" for uid, w in sorted(row.items())) or "-"
        immune = ("owner" if n.uid in report.immunity.owner
                  else "yes" if n.uid in report.immunity.recent else "no")
        lines.append(
            f"{n.uid:>4}  {n.hotkey[:12] + '..':<14}  {n.stake:>12.3f}  "
            f"{'yes' if n.validator_permit else 'no':<7}  {axon:<21}  {n.incentive:>9.4f}  "
            f"{n.last_update:>7}  {immune:<6}  {weights}"
        )
    return "\n".join(lines)



@dataclass(frozen=True)
class Reveal:
    """What became of one timelocked commit at its reveal (the devnet's ``reveals`` table).

    ``outcome`` is ``"revealed"`` (the weights are on chain) or ``"dropped"``; a dropped one
    names the subtensor error its ``do_set_mechanism_weights`` (or the reveal step) failed
    with, and why. The chain drops these silently; only the devnet keeps the record."""

    hotkey: str
    commit_epoch: int
    commit_block: int
    reveal_block: int
    outcome: str
    error: str
    docs: str


@dataclass(frozen=True)
class PendingCommit:
    """A commit still waiting in ``TimelockedWeightCommits`` for ``reveal_epoch``."""

    hotkey: str
    commit_epoch: int
    commit_block: int
    reveal_epoch: int
    plaintext_known: bool


@dataclass(frozen=True)
class RevealReport:
    """The subnet's reveals so far (oldest first) and its pending commits, at ``block``."""

    netuid: int
    block: int
    epoch: int
    reveals: tuple[Reveal, ...]
    pending: tuple[PendingCommit, ...]


def reveals(
    netuid: int, *, state: Path | None = None, clock: Callable[[], float] = time.time
) -> RevealReport:
    """The subnet's commit-reveal record at the current block of ``clock`` (a read: writes
    nothing). Raises :class:`DevnetError` for a missing subnet."""
    with contextlib.closing(open_store(state, netuid=netuid, clock=clock)) as store, store.read() as (conn, block):
        subnet = conn.execute(
            "SELECT epoch_index, commit_reveal_period FROM subnets WHERE netuid = ?", (netuid,)
        ).fetchone()
        if subnet is None:
            raise DevnetError(f"reveals: subnet {netuid} does not exist")
        epoch, period = subnet
        done = conn.execute(
            "SELECT hotkey, commit_epoch, commit_block, reveal_block, outcome, error, docs "
            "FROM reveals WHERE netuid = ? ORDER BY id", (netuid,)
        ).fetchall()
        waiting = conn.execute(
            "SELECT hotkey, epoch, commit_block, plaintext IS NOT NULL FROM timelocked_commits "
            "WHERE netuid = ? ORDER BY id", (netuid,)
        ).fetchall()
    return RevealReport(
        netuid, block, epoch,
        tuple(Reveal(*row) for row in done),
        tuple(PendingCommit(h, e, b, e + period, bool(known)) for h, e, b, known in waiting),
    )


def format_reveals(report: RevealReport) -> str:
    """Plain text: one line per reveal (committed block, reveal block, hotkey, outcome and,
    when dropped, the subtensor error and why), then the pending commits."""
    title = (f"netuid {report.netuid} at block {report.block} (epoch {report.epoch}): "
             f"{len(report.reveals)} reveals, {len(report.pending)} pending commits")
    lines = [title, f"{'COMMITTED':>9}  {'REVEALED':>8}  {'HOTKEY':<14}  OUTCOME"]
    for r in report.reveals:
        outcome = r.outcome if r.outcome == "revealed" else f"dropped: {r.error}: {r.docs}"
        lines.append(f"{r.commit_block:>9}  {r.reveal_block:>8}  {r.hotkey[:12] + '..':<14}  {outcome}")
    for c in report.pending:
        known = "" if c.plaintext_known else " (plaintext unknown to the devnet: will be dropped)"
        lines.append(f"{c.commit_block:>9}  {'-':>8}  {c.hotkey[:12] + '..':<14}  "
                     f"pending: reveals as epoch {c.reveal_epoch} starts{known}")
    return "\n".join(lines)
