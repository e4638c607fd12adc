"""Devnet pallet logic: call dispatch, the lazy epoch, admin ops (reads: ``storage``).

Every function takes an open sqlite connection inside a ``Store.transaction``
and the current block. Dispatch raises :class:`DispatchError` (named like the
real subtensor error) before writing anything, so a rejected call writes
nothing once the transaction rolls back.

What it models: subnets with tempo / weights rate limit / min allowed weights /
max weight limit / version key / serving rate limit / immunity period / min non-immune uids;
``burned_register`` (no burn: coldkeys have unlimited balance), which on a full subnet prunes the
uid subtensor's ``get_neuron_to_prune`` picks; ``add_stake``; ``serve_axon``; ``set_mechanism_weights``
and ``set_weights`` (refused while commit-reveal is on, as subtensor's dispatch refuses them);
``commit_timelocked_mechanism_weights`` and the reveal at the reveal epoch (see
:func:`run_epochs`; the plaintext comes from ``timelock``, not drand); validator permits
by stake rank at each epoch (``MaxAllowedValidators``, ``StakeThreshold``), with the devnet
admin's override; a Yuma-consensus epoch every ``tempo`` blocks (``yuma.epoch``); the admin's
``replace_neuron`` (deregistration) and ``swap_hotkey``; the Commitments pallet's
``set_commitment`` (plain fields; no timelocked ones).
"""

from __future__ import annotations

import ipaddress
import json
import sqlite3
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from bittensor.sp_core import Keypair

from . import storage as st
from . import yuma

__all__ = [
    "DispatchError",
    "SubnetParams",
    "create_subnet",
    "set_permit",
    "clear_permit_override",
    "set_stake_threshold",
    "dispatch",
    "run_epochs",
    "SUPPORTED_CALLS",
    "U16_MAX",
    "HYPERPARAMETERS",
    "set_hyperparameter",
    "replace_neuron",
    "swap_hotkey",
    "neuron_to_prune",
    "Immunity",
    "immunity",
    "Event",
    "COMMIT_REVEAL_VERSION",
    "MAX_COMMIT_BYTES",
    "record_plaintext",
    "commit_bytes",
    "MAX_COMMITMENT_FIELDS",
    "COMMITMENT_MAX_SPACE",
]

U16_MAX = 65535
# subtensor lib.rs DefaultCommitRevealWeightsVersion: the only commit_reveal_version accepted.
COMMIT_REVEAL_VERSION = 4
# subtensor lib.rs MAX_CRV3_COMMIT_SIZE_BYTES: the commit's BoundedVec bound.
MAX_COMMIT_BYTES = 5000
# subtensor lib.rs MIN_/MAX_COMMIT_REVEAL_PEROIDS (set_reveal_period's bounds).
_REVEAL_PERIODS = (1, 100)
# subtensor weights.rs internal_commit_timelocked_weights: unrevealed commits per hotkey per epoch.
_MAX_UNREVEALED = 10

# A triggered event, shaped as the SDK decodes ``System.Events`` records.
Event = dict[str, Any]


class DispatchError(Exception):
    """A call the pallet rejects. ``name`` matches the real subtensor error."""

    def __init__(self, name: str, docs: str):
        super().__init__(f"{name}: {docs}")
        self.name = name
        self.docs = docs


@dataclass(frozen=True)
class SubnetParams:
    """Hyperparameters of a devnet subnet (defaults suit a local run)."""

    tempo: int = 10
    weights_rate_limit: int = 5
    min_allowed_weights: int = 1
    max_weights_limit: int = U16_MAX
    weights_version_key: int = 0
    max_uids: int = 256
    # subtensor runtime/src/lib.rs ``SubtensorInitialServingRateLimit`` (50 blocks).
    serving_rate_limit: int = 50
    # subtensor runtime/src/lib.rs ``SubtensorInitialMaxAllowedValidators`` (finney sets 64 on
    # most subnets by sudo): the top-k by stake that get a validator permit at each epoch.
    max_allowed_validators: int = yuma.MAX_ALLOWED_VALIDATORS
    # subtensor runtime/src/lib.rs ``SubtensorInitialImmunityPeriod``: blocks after its
    # registration during which a uid is pruned only when no other uid may be.
    immunity_period: int = 4096
    # subtensor pallets/subtensor/src/lib.rs ``DefaultMinNonImmuneUids``: a full subnet prunes a
    # non-immune uid only while more than this many non-immune, non-owner uids remain.
    min_non_immune_uids: int = 10
    # subtensor lib.rs DefaultCommitRevealWeightsEnabled (true, as on finney) and
    # DefaultRevealPeriodEpochs (1): a commit in epoch e is revealed as epoch e + 1 starts.
    commit_reveal_weights_enabled: bool = True
    commit_reveal_period: int = 1
    # subtensor Yuma3On: which bonds branch the epoch runs (yuma.epoch). On, because a devnet
    # subnet stands for one registered on the chain (btcli subnets create -> register_network),
    # and subnets/subnet.rs::init_new_network sets it on for every network so created; the
    # runtime's InitialYuma3On (false) is only the storage default for a subnet never
    # initialised that way (and what an older devnet state file, whose bonds the original
    # branch wrote, migrates to: store._ADDED_COLUMNS).
    yuma3_enabled: bool = True


# --- admin (devnet "sudo") ------------------------------------------------------


def create_subnet(
    conn: sqlite3.Connection, block: int, netuid: int, params: SubnetParams, owner: str = "",
    owner_hotkey: str | None = None,
) -> None:
    """Create a subnet owned by coldkey ``owner`` (``SubnetOwner``) with ``owner_hotkey``
    (``SubnetOwnerHotkey``, default ``owner``); raises DispatchError("SubnetExists") when taken."""
    if netuid < 1 or netuid > 4095:
        raise DispatchError("InvalidNetuid", f"netuid must be in 1..4095, got {netuid}")
    if (
        params.tempo < 1 or params.weights_rate_limit < 0 or params.max_uids < 1
        or params.serving_rate_limit < 0 or not 0 <= params.max_allowed_validators <= U16_MAX
        or not _REVEAL_PERIODS[0] <= params.commit_reveal_period <= _REVEAL_PERIODS[1]
    ):
        raise DispatchError(
            "InvalidParams",
            "tempo and max_uids must be >= 1, rate limits >= 0, max_allowed_validators 0..65535, "
            f"commit_reveal_period in {_REVEAL_PERIODS[0]}..{_REVEAL_PERIODS[1]}",
        )
    for name in ("immunity_period", "min_non_immune_uids"):
        if not 0 <= getattr(params, name) <= U16_MAX:  # both are u16 on the chain
            raise DispatchError("InvalidParams", f"{name} must be within 0..{U16_MAX}")
    if st.subnet_row(conn, netuid) is not None:
        raise DispatchError("SubnetExists", f"subnet {netuid} already exists")
    conn.execute(
        "INSERT INTO subnets (netuid, tempo, weights_rate_limit, min_allowed_weights, "
        "max_weights_limit, weights_version_key, max_uids, created_block, last_epoch_block, "
        "owner_coldkey, owner_hotkey, serving_rate_limit, max_allowed_validators, "
        "immunity_period, min_non_immune_uids, commit_reveal_weights_enabled, commit_reveal_period, "
        "yuma3_enabled) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            netuid,
            params.tempo,
            params.weights_rate_limit,
            params.min_allowed_weights,
            params.max_weights_limit,
            params.weights_version_key,
            params.max_uids,
            block,
            block,
            owner,
            owner if owner_hotkey is None else owner_hotkey,
            params.serving_rate_limit,
            params.max_allowed_validators,
            params.immunity_period,
            params.min_non_immune_uids,
            int(params.commit_reveal_weights_enabled),
            params.commit_reveal_period,
            int(params.yuma3_enabled),
        ),
    )


def set_permit(conn: sqlite3.Connection, netuid: int, hotkey: str, permit: bool) -> int:
    """The devnet admin's permit override: grant or revoke ``hotkey``'s validator permit now,
    and keep it so at every epoch (over the stake rank) until :func:`clear_permit_override`.
    Returns the hotkey's uid; ``DispatchError`` if it is not registered.

    The override names the hotkey, not the uid: a deregistered hotkey's override no longer
    applies to its uid (the epoch drops overrides of hotkeys off the subnet), and a swapped
    hotkey leaves it behind (grant it again to the new hotkey).
    """
    uid = _registered_uid(conn, netuid, hotkey)
    conn.execute(
        "UPDATE neurons SET permit = ? WHERE netuid = ? AND uid = ?", (int(permit), netuid, uid)
    )
    conn.execute(
        "INSERT INTO permit_overrides (netuid, hotkey, granted) VALUES (?, ?, ?) "
        "ON CONFLICT(netuid, hotkey) DO UPDATE SET granted = excluded.granted",
        (netuid, hotkey, int(permit)),
    )
    return uid


def clear_permit_override(conn: sqlite3.Connection, netuid: int, hotkey: str) -> int:
    """Drop the admin's override for ``hotkey``: its current permit stays until the next epoch,
    which gives it by stake rank again. Returns the uid; ``DispatchError`` if not registered."""
    uid = _registered_uid(conn, netuid, hotkey)
    conn.execute(
        "DELETE FROM permit_overrides WHERE netuid = ? AND hotkey = ?", (netuid, hotkey)
    )
    return uid


def set_stake_threshold(conn: sqlite3.Connection, rao: int) -> int:
    """Set the chain-wide ``StakeThreshold`` (root's ``sudo_set_stake_threshold``, admin-utils):
    stake below it, in rao, counts as zero at the epoch, so it earns no permit. Returns the
    previous value; ``DispatchError`` outside 0..u64::MAX."""
    if not 0 <= rao <= 2**64 - 1:
        raise DispatchError("InvalidValue", f"the stake threshold is a u64 in rao, got {rao}")
    previous = st.stake_threshold(conn)
    conn.execute(
        "INSERT INTO meta (key, value) VALUES ('stake_threshold', ?) "
        "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        (str(rao),),
    )
    return previous


def _registered_uid(conn: sqlite3.Connection, netuid: int, hotkey: str) -> int:
    uid = st.uid_of(conn, netuid, hotkey)
    if uid is None:
        raise DispatchError(
            "HotKeyNotRegisteredInSubNet", f"{hotkey} is not registered on netuid {netuid}"
        )
    return uid


# The hyperparameters the devnet models, by the names the SDK (``bittensor.hyperparams``) and
# btcli use, with the column each lives in and the values the chain's sudo calls accept.
HYPERPARAMETERS: dict[str, tuple[str, int, int]] = {
    "tempo": ("tempo", 1, 65535),
    "weights_rate_limit": ("weights_rate_limit", 0, 2**64 - 1),
    "min_allowed_weights": ("min_allowed_weights", 0, 65535),
    "max_weights_limit": ("max_weights_limit", 0, 65535),
    "weights_version": ("weights_version_key", 0, 2**64 - 1),
    "max_allowed_uids": ("max_uids", 1, 65535),
    "serving_rate_limit": ("serving_rate_limit", 0, 2**64 - 1),
    "max_validators": ("max_allowed_validators", 0, 65535),
    "immunity_period": ("immunity_period", 0, 65535),
    # Not an SDK hyperparameter name: root's ``sudo_set_min_non_immune_uids`` (admin-utils).
    "min_non_immune_uids": ("min_non_immune_uids", 0, 65535),
    # admin-utils sudo_set_commit_reveal_weights_enabled (a bool: 0 or 1) and
    # sudo_set_commit_reveal_weights_interval -> weights.rs set_reveal_period (1..100).
    "commit_reveal_weights_enabled": ("commit_reveal_weights_enabled", 0, 1),
    "commit_reveal_period": ("commit_reveal_period", *_REVEAL_PERIODS),
    # admin-utils sudo_set_yuma3_enabled (owner or root; a bool): the epoch's bonds branch. Not
    # modelled: its admin-window and owner rate-limit checks, as for the other sudo calls here.
    "yuma3_enabled": ("yuma3_enabled", 0, 1),
}


def set_hyperparameter(conn: sqlite3.Connection, block: int, netuid: int, name: str, value: int) -> int:
    """Set one of :data:`HYPERPARAMETERS` on a running subnet at ``block`` (the owner's or root's
    sudo call); returns the previous value. ``max_allowed_uids`` may not drop below the neurons
    registered (subtensor refuses that too). A new ``tempo`` restarts the epoch cycle at
    ``block``, as subtensor's ``apply_tempo_with_cycle_reset`` (``utils/misc.rs``) sets
    ``LastEpochBlock`` to the current block. Raises ``DispatchError`` naming what is wrong."""
    _require_subnet(conn, netuid)
    if name not in HYPERPARAMETERS:
        raise DispatchError(
            "UnknownHyperparameter", f"{name} is not one of {', '.join(sorted(HYPERPARAMETERS))}"
        )
    column, low, high = HYPERPARAMETERS[name]
    if not low <= value <= high:
        raise DispatchError("InvalidValue", f"{name} must be within {low}..{high}, got {value}")
    if name == "max_allowed_uids" and value < st.neuron_count(conn, netuid):
        raise DispatchError(
            "MaxAllowedUidsLessThanCurrentUids",
            f"{st.neuron_count(conn, netuid)} neurons are registered, more than {value}",
        )
    # admin-utils ``sudo_set_max_allowed_validators``: at most MaxAllowedUids.
    if name == "max_validators" and value > _require_subnet(conn, netuid)["max_uids"]:
        raise DispatchError(
            "MaxValidatorsLargerThanMaxUIds",
            f"max_validators {value} exceeds the subnet's max_allowed_uids",
        )
    previous = conn.execute(f"SELECT {column} FROM subnets WHERE netuid = ?", (netuid,)).fetchone()[0]
    conn.execute(f"UPDATE subnets SET {column} = ? WHERE netuid = ?", (value, netuid))
    if name == "tempo":
        conn.execute("UPDATE subnets SET last_epoch_block = ? WHERE netuid = ?", (block, netuid))
    return int(previous)


def replace_neuron(
    conn: sqlite3.Connection, block: int, netuid: int, old_hotkey: str, new_hotkey: str, coldkey: str
) -> int:
    """Deregister ``old_hotkey`` from ``netuid``: ``new_hotkey`` (owned by ``coldkey``) takes its
    uid, as subtensor ``subnets/uids.rs::replace_neuron`` does when a registration on a full
    subnet prunes a uid. Returns the uid.

    As there: Keys/Uids move to the new hotkey, BlockAtRegistration and LastUpdate become
    ``block``, the old hotkey's axon is removed, and ``clear_neuron`` zeroes incentive,
    dividends and the permit, drops the weights the uid set and those set on it (subtensor
    zeroes them in place; the devnet stores no zero weights). Stake is per hotkey on the
    chain, so the new hotkey starts with none. The subnet owner's hotkey is never replaced
    (subtensor skips it); the devnet refuses instead of silently doing nothing.
    Raises ``DispatchError`` (old not registered, new already registered, owner hotkey,
    new hotkey owned by another coldkey).
    """
    subnet = _require_subnet(conn, netuid)
    uid = st.uid_of(conn, netuid, old_hotkey)
    if uid is None:
        raise DispatchError(
            "HotKeyNotRegisteredInSubNet", f"{old_hotkey} is not registered on netuid {netuid}"
        )
    if st.uid_of(conn, netuid, new_hotkey) is not None:
        raise DispatchError(
            "HotKeyAlreadyRegisteredInSubNet", f"{new_hotkey} is already registered on {netuid}"
        )
    if subnet["owner_hotkey"] and old_hotkey == subnet["owner_hotkey"]:
        raise DispatchError("SubnetOwnerHotkey", "the subnet owner's hotkey is never replaced")
    owner = conn.execute("SELECT coldkey FROM owners WHERE hotkey = ?", (new_hotkey,)).fetchone()
    if owner is not None and owner[0] != coldkey:
        raise DispatchError(
            "NonAssociatedColdKey", f"hotkey {new_hotkey} belongs to another coldkey ({owner[0]})"
        )
    _replace_uid(conn, block, netuid, uid, new_hotkey, coldkey)
    return uid


def _replace_uid(
    conn: sqlite3.Connection, block: int, netuid: int, uid: int, new_hotkey: str, coldkey: str
) -> None:
    """subtensor ``subnets/uids.rs::replace_neuron`` (with ``clear_neuron``) on ``uid``, no checks:
    the callers (:func:`replace_neuron`, a registration on a full subnet) made them."""
    conn.execute("INSERT OR IGNORE INTO owners (hotkey, coldkey) VALUES (?, ?)", (new_hotkey, coldkey))
    conn.execute(
        "UPDATE neurons SET hotkey = ?, coldkey = ?, stake = 0, permit = 0, ip = 0, port = 0, "
        "ip_type = 4, protocol = 4, version = 0, axon_block = 0, incentive = 0, dividends = 0, "
        "last_update = ?, registered_at = ? WHERE netuid = ? AND uid = ?",
        (new_hotkey, coldkey, block, block, netuid, uid),
    )
    conn.execute(
        "DELETE FROM weights WHERE netuid = ? AND (uid = ? OR dest = ?)", (netuid, uid, uid)
    )


@dataclass(frozen=True)
class Immunity:
    """Which uids of a subnet pruning treats specially at one block.

    ``owner``: the subnet owner's uids, never pruned (subtensor ``subnets/registration.rs::
    get_immune_owner_uids``); ``recent``: uids registered fewer than ``immunity_period`` blocks
    before (``utils/misc.rs::get_neuron_is_immune``), owner uids excluded.
    """

    owner: frozenset[int]
    recent: frozenset[int]


def immunity(conn: sqlite3.Connection, block: int, netuid: int) -> Immunity:
    """The :class:`Immunity` of ``netuid`` at ``block`` (``DispatchError`` for a missing subnet).

    Owner uids, as ``get_immune_owner_tuples``: the uids of hotkeys owned by the subnet owner's
    coldkey (the ``owners`` table is the chain's ``Owner``/``OwnedHotkeys``), earliest
    ``BlockAtRegistration`` first, then lowest uid, kept up to ``storage.IMMUNE_OWNER_UIDS_LIMIT``;
    the ``SubnetOwnerHotkey``'s uid, when registered, goes first and the list is cut to the
    limit again. A uid is recently registered while ``block - registered_at < immunity_period``.
    """
    subnet = _require_subnet(conn, netuid)
    owned = [
        int(uid)
        for (uid,) in conn.execute(
            "SELECT n.uid FROM neurons n JOIN owners o ON o.hotkey = n.hotkey "
            "WHERE n.netuid = ? AND o.coldkey = ? ORDER BY n.registered_at, n.uid",
            (netuid, subnet["owner_coldkey"]),
        )
    ][:st.IMMUNE_OWNER_UIDS_LIMIT]
    owner_uid = st.uid_of(conn, netuid, subnet["owner_hotkey"]) if subnet["owner_hotkey"] else None
    if owner_uid is not None and owner_uid not in owned:
        owned = [owner_uid, *owned][:st.IMMUNE_OWNER_UIDS_LIMIT]
    period = subnet["immunity_period"]
    recent = {
        int(uid)
        for uid, registered_at in conn.execute(
            "SELECT uid, registered_at FROM neurons WHERE netuid = ?", (netuid,)
        )
        if block - registered_at < period and uid not in owned
    }
    return Immunity(frozenset(owned), frozenset(recent))


def neuron_to_prune(conn: sqlite3.Connection, block: int, netuid: int) -> int | None:
    """The uid a registration on full subnet ``netuid`` replaces at ``block``, or None: subtensor
    ``subnets/registration.rs::get_neuron_to_prune``.

    Owner uids (:func:`immunity`) are never candidates. Among the others the candidate is the
    lowest pruning score, ties broken by the earlier ``BlockAtRegistration``, then the lower
    uid. A non-immune candidate is taken while more than ``min_non_immune_uids`` non-immune
    uids remain; otherwise the best recently registered (immune) one is, and None when there
    is none (every uid the owner's, or too few non-immune uids and no immune one).

    The pruning score is the chain's ``Emission``, which ``epoch/run_epoch.rs`` makes
    proportional to incentive + dividends (each normalised over the subnet); the devnet keeps
    no emission, so it ranks by the ``incentive + dividends`` the last epoch wrote: the same
    order. (Not modelled: when no uid earns anything the chain's emission follows stake.)
    """
    subnet = _require_subnet(conn, netuid)
    protected = immunity(conn, block, netuid)
    free: list[tuple[int, int, int]] = []
    immune: list[tuple[int, int, int]] = []
    for uid, score, registered_at in conn.execute(
        "SELECT uid, incentive + dividends, registered_at FROM neurons WHERE netuid = ?", (netuid,)
    ):
        if uid in protected.owner:
            continue
        (immune if uid in protected.recent else free).append((score, registered_at, uid))
    if free and len(free) > subnet["min_non_immune_uids"]:
        return min(free)[2]
    return min(immune)[2] if immune else None


def swap_hotkey(conn: sqlite3.Connection, old_hotkey: str, new_hotkey: str, coldkey: str) -> list[int]:
    """Move ``old_hotkey``'s neurons on every subnet to ``new_hotkey``, signed by ``coldkey``:
    subtensor ``swap/swap_hotkey.rs::do_swap_hotkey`` (netuid ``None``) and
    ``perform_hotkey_swap_on_all_subnets``. Returns the netuids whose uid moved.

    Checks, as there: ``coldkey`` owns ``old_hotkey`` and, if ``new_hotkey`` exists, it too
    (``NonAssociatedColdKey``); the keys differ (``NewHotKeyIsSameWithOld``); ``new_hotkey`` is
    on no subnet (``HotKeyAlreadyRegisteredInSubNet``). Uids/Keys, the axon, stake and the
    Owner entry move; the uid, BlockAtRegistration, LastUpdate and weights stay. Not modelled:
    the swap fee, the tx rate limit and per-subnet swap cooldown (devnet balances are
    unlimited and the admin is trusted).
    """
    owner = conn.execute("SELECT coldkey FROM owners WHERE hotkey = ?", (old_hotkey,)).fetchone()
    if owner is None or owner[0] != coldkey:
        raise DispatchError("NonAssociatedColdKey", f"{coldkey} does not own hotkey {old_hotkey}")
    new_owner = conn.execute("SELECT coldkey FROM owners WHERE hotkey = ?", (new_hotkey,)).fetchone()
    if new_owner is not None and new_owner[0] != coldkey:
        raise DispatchError(
            "NonAssociatedColdKey", f"hotkey {new_hotkey} belongs to another coldkey ({new_owner[0]})"
        )
    if old_hotkey == new_hotkey:
        raise DispatchError("NewHotKeyIsSameWithOld", "the new hotkey is the old one")
    if conn.execute("SELECT 1 FROM neurons WHERE hotkey = ?", (new_hotkey,)).fetchone():
        raise DispatchError(
            "HotKeyAlreadyRegisteredInSubNet", f"{new_hotkey} is already registered on a subnet"
        )
    netuids = [
        int(r[0])
        for r in conn.execute(
            "SELECT netuid FROM neurons WHERE hotkey = ? ORDER BY netuid", (old_hotkey,)
        )
    ]
    conn.execute("UPDATE neurons SET hotkey = ? WHERE hotkey = ?", (new_hotkey, old_hotkey))
    conn.execute("DELETE FROM owners WHERE hotkey = ?", (old_hotkey,))
    conn.execute("INSERT OR IGNORE INTO owners (hotkey, coldkey) VALUES (?, ?)", (new_hotkey, coldkey))
    return netuids


# --- epoch ----------------------------------------------------------------------


def run_epochs(conn: sqlite3.Connection, block: int) -> None:
    """Apply each subnet's epoch if one fell due at or before ``block``, each preceded by
    the reveal of the commits that mature at it.

    Subtensor's stateful schedule (coinbase/run_coinbase.rs ``should_run_epoch``):
    an epoch fires once ``block - LastEpochBlock >= tempo``, so they fall at
    ``LastEpochBlock + k * tempo`` (a tempo change moves the next one, it does not
    re-grid from the subnet's creation); tempo 0 never fires. Each epoch adds one to
    ``SubnetEpochIndex``. In a block, ``block_step.rs::block_step`` reveals
    (``reveal_crv3_commits``) before ``run_coinbase`` runs the epoch, so weights revealed
    at an epoch block count in that block's epoch: the same order here.

    Missed epochs run one by one, each after the reveal due at its block, as the chain runs
    them: an epoch reads what the one before wrote (the bonds its EMA carries on, the
    permits), so they do not commute. Once one has *settled* (see :func:`_epoch`: it left its
    bonds and permits as it found them, masked no fresh column, and no uid's activity changes
    before ``block``) and no commit is pending, every later one would compute the same, so
    the rest collapse into the last. Past :data:`_MAX_REPLAYED_EPOCHS` unsettled epochs the
    rest collapse too (a bound on one transaction's work; the EMA then skips steps). With no
    epoch due, the reveal still runs at ``block`` (the chain tries every block), which only
    finds something after ``commit_reveal_period`` changed. The store calls this at the
    start of every transaction (see ``store``).
    """
    for netuid, tempo, last, index in conn.execute(
        "SELECT netuid, tempo, last_epoch_block, epoch_index FROM subnets"
    ).fetchall():
        if tempo <= 0 or block - last < tempo:
            _reveal_commits(conn, netuid, block, index)
            continue
        count = (block - last) // tempo
        final = last + tempo * count
        previous, settled = last, False
        for k in range(1, count + 1):
            at = last + k * tempo
            if k < count and (settled or k > _MAX_REPLAYED_EPOCHS) and not _has_commits(conn, netuid):
                break
            # At an epoch block current_epoch_with_lookahead is the index the epoch will give.
            _reveal_commits(conn, netuid, at, index + k)
            settled = _epoch(conn, netuid, at, previous, until=final)
            previous = at
        if previous != final:
            _epoch(conn, netuid, final, final - tempo, until=final)
        conn.execute(
            "UPDATE subnets SET last_epoch_block = ?, epoch_index = ? WHERE netuid = ?",
            (last + tempo * count, index + count, netuid),
        )


# How many unsettled missed epochs one transaction replays before collapsing the rest (a Yuma3
# EMA from no bonds settles in u16 within ~40-80 epochs; at 256 uids an epoch takes ~0.2 s).
_MAX_REPLAYED_EPOCHS = 128


def _has_commits(conn: sqlite3.Connection, netuid: int) -> bool:
    return conn.execute(
        "SELECT 1 FROM timelocked_commits WHERE netuid = ? LIMIT 1", (netuid,)
    ).fetchone() is not None


def _reveal_commits(conn: sqlite3.Connection, netuid: int, block: int, current_epoch: int) -> None:
    """subtensor ``coinbase/reveal_commits.rs::reveal_crv3_commits_for_subnet`` at ``block``,
    where ``current_epoch`` is ``current_epoch_with_lookahead``.

    In order, as there: commits keyed by an epoch before ``current_epoch - RevealPeriodEpochs``
    are removed (expired); nothing more before epoch ``RevealPeriodEpochs``; the commits of
    epoch ``current_epoch - RevealPeriodEpochs`` are taken in commit order and each applied
    with ``do_set_mechanism_weights`` (every check of a plain set_weights, see
    :func:`_apply_weights`). A failure is dropped silently, as the chain does (it only logs
    at trace level); the devnet also writes each outcome to its ``reveals`` table (shown by
    ``python -m neurons.devnet reveals``). Where the chain decrypts with the drand pulse,
    the devnet reads the plaintext stored beside the ciphertext (``timelock``); a commit
    without one is dropped (``DevnetPlaintextUnknown``). The chain also drops a payload whose
    hotkey is not the committer's (``hotkey mismatch in payload``): the same here.
    """
    (period,) = conn.execute(
        "SELECT commit_reveal_period FROM subnets WHERE netuid = ?", (netuid,)
    ).fetchone()
    reveal_epoch = max(0, current_epoch - period)
    for row in conn.execute(
        "SELECT id, hotkey, epoch, commit_block FROM timelocked_commits "
        "WHERE netuid = ? AND epoch < ? ORDER BY id", (netuid, reveal_epoch)
    ).fetchall():
        _record_reveal(conn, netuid, row[1], row[2], row[3], block, "ExpiredWeightCommit",
                       f"committed in epoch {row[2]}; at epoch {current_epoch} the chain reveals "
                       f"epoch {reveal_epoch}'s commits (commit_reveal_period {period})")
        conn.execute("DELETE FROM timelocked_commits WHERE id = ?", (row[0],))
    if current_epoch < period:
        return
    taken = conn.execute(
        "SELECT id, hotkey, commit_block, plaintext FROM timelocked_commits "
        "WHERE netuid = ? AND epoch = ? ORDER BY id", (netuid, reveal_epoch)
    ).fetchall()
    conn.execute(
        "DELETE FROM timelocked_commits WHERE netuid = ? AND epoch = ?", (netuid, reveal_epoch)
    )
    for _id, hotkey, commit_block, plaintext in taken:
        try:
            if plaintext is None:
                raise DispatchError(
                    "DevnetPlaintextUnknown",
                    "the devnet never saw this commit's plaintext (it was encrypted in a process "
                    "that did not build a DevnetSubstrate) and cannot decrypt without drand",
                )
            payload = json.loads(plaintext)
            if bytes.fromhex(payload["hotkey"]) != _public_key(hotkey):
                raise DispatchError(
                    "HotkeyMismatch", "the payload's hotkey is not the committer's (the chain "
                    "drops it: 'hotkey mismatch in payload')",
                )
            _apply_weights(
                conn, block, netuid, hotkey,
                [int(u) for u in payload["uids"]], [int(v) for v in payload["values"]],
                int(payload["version_key"]),
            )
        except DispatchError as error:
            _record_reveal(conn, netuid, hotkey, reveal_epoch, commit_block, block,
                           error.name, error.docs)
        else:
            _record_reveal(conn, netuid, hotkey, reveal_epoch, commit_block, block, "", "")


def _record_reveal(
    conn: sqlite3.Connection, netuid: int, hotkey: str, epoch: int, commit_block: int,
    block: int, error: str, docs: str,
) -> None:
    conn.execute(
        "INSERT INTO reveals (netuid, hotkey, commit_epoch, commit_block, reveal_block, outcome, "
        "error, docs) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (netuid, hotkey, epoch, commit_block, block, "dropped" if error else "revealed", error, docs),
    )


def _public_key(ss58: str) -> bytes:
    return bytes(Keypair(ss58_address=ss58).public_key)


def _epoch(conn: sqlite3.Connection, netuid: int, block: int, previous: int, *, until: int) -> bool:
    """Subtensor's Yuma epoch (``yuma.epoch``, ``epoch/run_epoch.rs::epoch_mechanism``) for the
    epoch due at ``block``, persisted as ``persist_*_epoch_terms`` do: incentive, dividends,
    consensus, validator trust, active and the new validator permits per uid (u16 fractions,
    bools), and the bonds rows (the Bonds map; rows of uids without a new permit are dropped).
    The subnet's ``yuma3_enabled`` (``Yuma3On``) picks the bonds branch.

    ``previous`` is the previous epoch's block (subtensor ``LastMechansimStepBlock``), used to
    drop bonds on uids registered since. The admin's permit overrides replace the stake rank's
    permit for their hotkeys; overrides of hotkeys no longer on the subnet are deleted here.

    Returns whether the epoch settled: it stored the bonds and permits it read, dropped no
    bonds for a fresh registration, and every uid active at ``block`` is still so at
    ``until`` (activity is all that changes with the block alone). Then an epoch at any block
    up to ``until``, with nothing written in between, computes exactly what this one did.
    """
    subnet = st.subnet_row(conn, netuid)
    assert subnet is not None  # run_epochs iterates existing subnets
    rows = conn.execute(
        "SELECT uid, hotkey, stake, permit, last_update, registered_at FROM neurons "
        "WHERE netuid = ? ORDER BY uid",
        (netuid,),
    ).fetchall()
    uid_by_hotkey = {hotkey: uid for uid, hotkey, *_ in rows}
    conn.execute(
        "DELETE FROM permit_overrides WHERE netuid = ? AND hotkey NOT IN "
        "(SELECT hotkey FROM neurons WHERE netuid = ?)",
        (netuid, netuid),
    )
    overrides = {
        uid_by_hotkey[hotkey]: bool(granted)
        for hotkey, granted in conn.execute(
            "SELECT hotkey, granted FROM permit_overrides WHERE netuid = ?", (netuid,)
        )
    }
    owner = subnet["owner_hotkey"]
    bonds = _matrix(conn, "bonds", netuid)
    cutoff = yuma.activity_cutoff_blocks(subnet["tempo"])
    result = yuma.epoch(
        yuma.EpochInputs(
            block=block,
            stake=[r[2] for r in rows],
            last_update=[r[4] for r in rows],
            block_at_registration=[r[5] for r in rows],
            permits=[bool(r[3]) for r in rows],
            weights=_matrix(conn, "weights", netuid),
            bonds=bonds,
            last_epoch_block=previous,
            activity_cutoff=cutoff,
            max_allowed_validators=subnet["max_allowed_validators"],
            stake_threshold=st.stake_threshold(conn),
            owner_uid=uid_by_hotkey.get(owner) if owner else None,
            permit_overrides=overrides,
            yuma3=bool(subnet["yuma3_enabled"]),
        )
    )
    conn.executemany(
        "UPDATE neurons SET incentive = ?, dividends = ?, consensus = ?, validator_trust = ?, "
        "active = ?, permit = ? WHERE netuid = ? AND uid = ?",
        [
            (
                yuma.to_u16(result.incentive[uid]),
                yuma.to_u16(result.dividends[uid]),
                yuma.to_u16(result.consensus[uid]),
                yuma.to_u16(result.validator_trust[uid]),
                int(result.active[uid]),
                int(result.new_permits[uid]),
                netuid,
                uid,
            )
            for uid in range(len(rows))
        ],
    )
    stored = {uid: {dest: v for dest, v in row.items() if v} for uid, row in result.bonds.items()}
    stored = {uid: row for uid, row in stored.items() if row}
    conn.execute("DELETE FROM bonds WHERE netuid = ?", (netuid,))
    conn.executemany(
        "INSERT INTO bonds (netuid, uid, dest, value) VALUES (?, ?, ?, ?)",
        [(netuid, uid, dest, value) for uid, row in stored.items() for dest, value in row.items()],
    )
    return (
        stored == bonds
        and list(result.new_permits) == [bool(r[3]) for r in rows]
        and all(r[5] < previous + 1 for r in rows)
        and all(r[4] + cutoff >= until for r, active in zip(rows, result.active) if active)
    )


def _matrix(conn: sqlite3.Connection, table: str, netuid: int) -> dict[int, dict[int, int]]:
    """The ``weights`` or ``bonds`` table of ``netuid`` as ``{uid: {dest: u16}}``."""
    matrix: dict[int, dict[int, int]] = {}
    for uid, dest, value in conn.execute(
        f"SELECT uid, dest, value FROM {table} WHERE netuid = ?", (netuid,)
    ):
        matrix.setdefault(int(uid), {})[int(dest)] = int(value)
    return matrix


# --- dispatch -------------------------------------------------------------------

# A call's pallet logic: (conn, block, params, origin) -> events.
_Handler = Callable[[sqlite3.Connection, int, Mapping[str, Any], str], list[Event]]


def dispatch(
    conn: sqlite3.Connection, block: int, module: str, function: str, params: Mapping[str, Any], origin: str
) -> list[Event]:
    """Apply a signed call from ``origin``; returns triggered events."""
    handler = _CALLS.get((module, function))
    if handler is None:
        raise DispatchError("CallNotSupported", f"devnet does not model {module}.{function}")
    return handler(conn, block, params, origin)


def _burned_register(
    conn: sqlite3.Connection, block: int, params: Mapping[str, Any], origin: str
) -> list[Event]:
    netuid, hotkey = int(params["netuid"]), str(params["hotkey"])
    subnet = _require_subnet(conn, netuid)
    owner = conn.execute("SELECT coldkey FROM owners WHERE hotkey = ?", (hotkey,)).fetchone()
    if owner is not None and owner[0] != origin:
        raise DispatchError(
            "NonAssociatedColdKey", f"hotkey {hotkey} belongs to another coldkey ({owner[0]})"
        )
    if st.uid_of(conn, netuid, hotkey) is not None:
        raise DispatchError(
            "HotKeyAlreadyRegisteredInSubNet", f"{hotkey} is already registered on {netuid}"
        )
    n = st.neuron_count(conn, netuid)
    if n >= subnet["max_uids"]:
        # subtensor subnets/registration.rs::register_neuron: a full subnet replaces the uid
        # get_neuron_to_prune picks (replace_neuron), or refuses with NoNeuronIdAvailable
        # (do_register checks this before burning anything).
        uid = neuron_to_prune(conn, block, netuid)
        if uid is None:
            raise DispatchError("NoNeuronIdAvailable", _full_hint(conn, block, netuid, subnet))
        _replace_uid(conn, block, netuid, uid, hotkey, origin)
        return [_event("NeuronRegistered", {"netuid": netuid, "uid": uid, "hotkey": hotkey})]
    conn.execute(
        "INSERT OR IGNORE INTO owners (hotkey, coldkey) VALUES (?, ?)", (hotkey, origin)
    )
    # subtensor subnets/uids.rs::append_neuron (and replace_neuron) call
    # ``set_last_update_for_uid(netuid, uid, block)``: a fresh uid counts as having just set
    # weights, so its first set_weights waits out the weights rate limit.
    conn.execute(
        "INSERT INTO neurons (netuid, uid, hotkey, coldkey, registered_at, last_update) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        (netuid, n, hotkey, origin, block, block),
    )
    return [_event("NeuronRegistered", {"netuid": netuid, "uid": n, "hotkey": hotkey})]


def _add_stake(
    conn: sqlite3.Connection, block: int, params: Mapping[str, Any], origin: str
) -> list[Event]:
    netuid, hotkey = int(params["netuid"]), str(params["hotkey"])
    amount = int(params["amount_staked"])
    _require_subnet(conn, netuid)
    if amount <= 0:
        raise DispatchError("AmountTooLow", "stake amount must be positive")
    if st.uid_of(conn, netuid, hotkey) is None:
        raise DispatchError(
            "HotKeyAccountNotExists", f"{hotkey} is not registered on netuid {netuid}"
        )
    conn.execute(
        "UPDATE neurons SET stake = stake + ? WHERE netuid = ? AND hotkey = ?",
        (amount, netuid, hotkey),
    )
    return [_event("StakeAdded", {"hotkey": hotkey, "netuid": netuid, "amount": amount})]


def _serve_axon(
    conn: sqlite3.Connection, block: int, params: Mapping[str, Any], origin: str
) -> list[Event]:
    netuid = int(params["netuid"])
    subnet = _require_subnet(conn, netuid)
    uid = st.uid_of(conn, netuid, origin)
    if uid is None:
        raise DispatchError(
            "HotKeyNotRegisteredInNetwork",
            f"{origin} is not registered on netuid {netuid}; {_register_hint(netuid)}",
        )
    ip_type, ip, port = int(params["ip_type"]), int(params["ip"]), int(params["port"])
    if ip_type not in (4, 6):
        raise DispatchError("InvalidIpType", f"ip_type must be 4 or 6, got {ip_type}")
    if not _valid_axon_ip(ip_type, ip):
        raise DispatchError(
            "InvalidIpAddress",
            f"{_show_ip(ip_type, ip)} is not an address the chain accepts (it refuses 127.0.0.1 and "
            "::1; on one machine announce another loopback address, e.g. 127.0.0.2)",
        )
    # subtensor subnets/serving.rs::validate_serve_axon checks the rate limit after the address
    # and before the port (validate_axon_data); ``axon_passes_rate_limit`` is
    # ``rate_limit == 0 || last_serve == 0 || block - last_serve >= rate_limit``.
    limit = subnet["serving_rate_limit"]
    (last_serve,) = conn.execute(
        "SELECT axon_block FROM neurons WHERE netuid = ? AND uid = ?", (netuid, uid)
    ).fetchone()
    if limit and last_serve and block - last_serve < limit:
        raise DispatchError(
            "ServingRateLimitExceeded",
            f"axon served {block - last_serve} blocks ago; the serving rate limit is {limit} "
            f"blocks; retry in {limit - (block - last_serve)} blocks",
        )
    if port == 0:
        raise DispatchError("InvalidPort", "port 0 is not a port")
    conn.execute(
        "UPDATE neurons SET ip = ?, port = ?, ip_type = ?, protocol = ?, version = ?, "
        "axon_block = ? WHERE netuid = ? AND uid = ?",
        (ip, port, ip_type, int(params["protocol"]), int(params["version"]), block, netuid, uid),
    )
    return [_event("AxonServed", {"netuid": netuid, "hotkey": origin})]


def _valid_axon_ip(ip_type: int, ip: int) -> bool:
    """subtensor's ``is_valid_ip_address(ip_type, addr, allow_zero=true)`` as ``validate_serve_axon``
    calls it (pallets/subtensor/src/subnets/serving.rs): 0 is allowed ("for testing purposes");
    IPv4 refuses u32::MAX and above and exactly 127.0.0.1; IPv6 refuses all-ones and exactly ::1.
    Other loopback, private and reserved addresses pass: the chain does not exclude them."""
    if ip_type == 4:
        return ip < 2**32 - 1 and ip != 0x7F000001
    return ip != 2**128 - 1 and ip != 1


def _show_ip(ip_type: int, ip: int) -> str:
    try:
        return str(ipaddress.IPv4Address(ip) if ip_type == 4 else ipaddress.IPv6Address(ip))
    except ValueError:
        return str(ip)


def _set_weights(
    conn: sqlite3.Connection, block: int, params: Mapping[str, Any], origin: str
) -> list[Event]:
    """``set_weights`` / ``set_mechanism_weights`` (macros/dispatches.rs): refused with
    ``CommitRevealEnabled`` while the subnet runs commit-reveal, else :func:`_apply_weights`."""
    netuid = int(params["netuid"])
    subnet = _require_subnet(conn, netuid)
    if subnet["commit_reveal_weights_enabled"]:
        raise DispatchError(
            "CommitRevealEnabled",
            f"subnet {netuid} runs commit-reveal: weights go in as a timelocked commit "
            "(bt.SetWeights does that by itself); the devnet admin can turn it off with "
            f"`python -m neurons.devnet set-hyperparameter --netuid {netuid} "
            "--name commit_reveal_weights_enabled --value 0`",
        )
    if int(params.get("mecid", 0) or 0) != 0:
        raise DispatchError("MechanismDoesNotExist", "devnet subnets have one mechanism (0)")
    return _apply_weights(
        conn, block, netuid, origin,
        [int(d) for d in params["dests"]], [int(v) for v in params["weights"]],
        int(params["version_key"]),
    )


def _commit_timelocked(
    conn: sqlite3.Connection, block: int, params: Mapping[str, Any], origin: str
) -> list[Event]:
    """subtensor ``subnets/weights.rs::internal_commit_timelocked_weights``. Checks, in order:
    the subnet and mechanism exist, commit-reveal is on (``CommitRevealDisabled``), the version
    is 4 (``IncorrectCommitRevealVersion``), the hotkey is registered, the weights rate limit
    against ``LastUpdate`` (``CommittingWeightsTooFast``), fewer than 10 unrevealed commits of
    the hotkey in this epoch (``TooManyUnrevealedCommits``). Then the commit joins the queue of
    ``TimelockedWeightCommits[netuid][current epoch]`` and ``LastUpdate`` becomes ``block``.
    The ciphertext must fit ``MAX_CRV3_COMMIT_SIZE_BYTES`` (the call's BoundedVec)."""
    netuid = int(params["netuid"])
    subnet = _require_subnet(conn, netuid)
    if int(params.get("mecid", 0) or 0) != 0:
        raise DispatchError("MechanismDoesNotExist", "devnet subnets have one mechanism (0)")
    commit = commit_bytes(params["commit"])
    if len(commit) > MAX_COMMIT_BYTES:
        raise DispatchError(
            "InvalidCall", f"the commit is {len(commit)} bytes; the chain takes at most {MAX_COMMIT_BYTES}"
        )
    if not subnet["commit_reveal_weights_enabled"]:
        raise DispatchError(
            "CommitRevealDisabled",
            f"subnet {netuid} does not run commit-reveal: set weights in plaintext",
        )
    version = int(params["commit_reveal_version"])
    if version != COMMIT_REVEAL_VERSION:
        raise DispatchError(
            "IncorrectCommitRevealVersion",
            f"commit_reveal_version {version}; the chain takes {COMMIT_REVEAL_VERSION}",
        )
    uid = st.uid_of(conn, netuid, origin)
    if uid is None:
        raise DispatchError(
            "HotKeyNotRegisteredInSubNet",
            f"{origin} is not registered on netuid {netuid}; {_register_hint(netuid)}",
        )
    (last,) = conn.execute(
        "SELECT last_update FROM neurons WHERE netuid = ? AND uid = ?", (netuid, uid)
    ).fetchone()
    limit = subnet["weights_rate_limit"]
    if last > 0 and block - last < limit:
        raise DispatchError(
            "CommittingWeightsTooFast",
            f"weights committed {block - last} blocks ago; the rate limit is {limit} blocks; "
            f"retry in {limit - (block - last)} blocks",
        )
    # current_epoch_with_lookahead: the store applies every epoch due at ``block`` before a
    # write, so none is due now and the lookahead is SubnetEpochIndex itself.
    epoch = int(subnet["epoch_index"])
    (pending,) = conn.execute(
        "SELECT COUNT(*) FROM timelocked_commits WHERE netuid = ? AND epoch = ? AND hotkey = ?",
        (netuid, epoch, origin),
    ).fetchone()
    if pending >= _MAX_UNREVEALED:
        raise DispatchError(
            "TooManyUnrevealedCommits",
            f"{pending} commits of {origin} already wait in epoch {epoch}",
        )
    reveal_round = int(params["reveal_round"])
    conn.execute(
        "INSERT INTO timelocked_commits (netuid, epoch, hotkey, commit_block, ciphertext, "
        "reveal_round) VALUES (?, ?, ?, ?, ?, ?)",
        (netuid, epoch, origin, block, commit, reveal_round),
    )
    conn.execute(
        "UPDATE neurons SET last_update = ? WHERE netuid = ? AND uid = ?", (block, netuid, uid)
    )
    return [_event("TimelockedWeightsCommitted", {
        "who": origin, "netuid": netuid, "commit_hash": None, "reveal_round": reveal_round,
    })]


def record_plaintext(
    conn: sqlite3.Connection, netuid: int, hotkey: str, ciphertext: bytes,
    uids: list[int], values: list[int], version_key: int, public_key: bytes,
) -> bool:
    """Store the plaintext beside a pending commit of ``hotkey`` whose ciphertext is
    ``ciphertext`` (devnet only: the chain decrypts with drand instead, see ``timelock``).
    Returns whether such a commit was waiting."""
    plaintext = json.dumps({
        "uids": uids, "values": values, "version_key": version_key, "hotkey": public_key.hex(),
    })
    cursor = conn.execute(
        "UPDATE timelocked_commits SET plaintext = ? WHERE netuid = ? AND hotkey = ? "
        "AND ciphertext = ? AND plaintext IS NULL",
        (plaintext, netuid, hotkey, bytes(ciphertext)),
    )
    return cursor.rowcount > 0


def commit_bytes(value: Any) -> bytes:
    """The commit as the SDK hands it (bytes), or hex / a list of ints as a JSON caller would."""
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    if isinstance(value, str):
        return bytes.fromhex(value.removeprefix("0x"))
    return bytes(int(b) for b in value)


def _apply_weights(
    conn: sqlite3.Connection, block: int, netuid: int, origin: str,
    dests: list[int], values: list[int], version_key: int,
) -> list[Event]:
    """subtensor ``subnets/weights.rs::internal_set_weights`` (``do_set_mechanism_weights``),
    for a plain set and for a reveal alike. As there, while commit-reveal is on the rate
    limit is not checked and ``LastUpdate`` is not moved (the commit did both)."""
    subnet = _require_subnet(conn, netuid)
    uid = st.uid_of(conn, netuid, origin)
    if uid is None:
        raise DispatchError(
            "HotKeyNotRegisteredInSubNet",
            f"{origin} is not registered on netuid {netuid}; {_register_hint(netuid)}",
        )
    commit_reveal = bool(subnet["commit_reveal_weights_enabled"])
    if version_key < subnet["weights_version_key"]:
        raise DispatchError(
            "IncorrectWeightVersionKey",
            f"version_key {version_key} < required {subnet['weights_version_key']}",
        )
    self_weight = dests == [uid]
    permit, last = conn.execute(
        "SELECT permit, last_update FROM neurons WHERE netuid = ? AND uid = ?", (netuid, uid)
    ).fetchone()
    if not permit and not self_weight:
        raise DispatchError(
            "NeuronNoValidatorPermit",
            f"uid {uid} has no validator permit; grant one with "
            f"`python -m neurons.devnet permit --netuid {netuid} --wallet.name …`",
        )
    limit = subnet["weights_rate_limit"]
    if not commit_reveal and last > 0 and block - last < limit:
        raise DispatchError(
            "SettingWeightsTooFast",
            f"weights set {block - last} blocks ago; the rate limit is {limit} blocks; "
            f"retry in {limit - (block - last)} blocks",
        )
    if len(dests) != len(values):
        raise DispatchError("WeightVecNotEqualSize", "dests and weights differ in length")
    if len(set(dests)) != len(dests):
        raise DispatchError("DuplicateUids", "a uid appears twice")
    n = st.neuron_count(conn, netuid)
    if any(d < 0 or d >= n for d in dests) or any(v < 0 or v > U16_MAX for v in values):
        raise DispatchError("UidVecContainInvalidOne", "a uid is not on the subnet")
    # subtensor subnets/weights.rs::check_length: the minimum is clamped to the
    # subnet's size, and entries count whatever their value (zeros included).
    min_allowed = min(subnet["min_allowed_weights"], n)
    if not self_weight and len(dests) < min_allowed:
        raise DispatchError(
            "WeightVecLengthIsLow",
            f"need at least {min_allowed} weights (min_allowed_weights), got {len(dests)}",
        )
    # subtensor max_weight_limited -> epoch/math.rs::check_vec_max_limited: the
    # largest value over the sum, at most max_weights_limit / U16_MAX; skipped at
    # U16_MAX, and it applies to a single non-self weight too (1 > any lower limit).
    # Max-upscaling first does not change the ratio; an all-zero vector passes.
    total = sum(values)
    limit = subnet["max_weights_limit"]
    if not self_weight and limit != U16_MAX and total and max(values) * U16_MAX > limit * total:
        raise DispatchError(
            "MaxWeightExceeded",
            f"the largest weight is {max(values) / total:.4f} of the total; "
            f"the subnet's max_weight_limit is {limit / U16_MAX:.4f}",
        )
    top = max(values) if values else 0
    conn.execute("DELETE FROM weights WHERE netuid = ? AND uid = ?", (netuid, uid))
    conn.executemany(
        "INSERT INTO weights (netuid, uid, dest, value) VALUES (?, ?, ?, ?)",
        [(netuid, uid, d, round(v * U16_MAX / top)) for d, v in zip(dests, values) if v and top],
    )
    if not commit_reveal:
        conn.execute(
            "UPDATE neurons SET last_update = ? WHERE netuid = ? AND uid = ?", (block, netuid, uid)
        )
    return [_event("WeightsSet", {"netuid": netuid, "uid": uid})]


# --- Commitments pallet ---------------------------------------------------------

# subtensor runtime/src/lib.rs MaxCommitFieldsInner: fields one CommitmentInfo may hold.
MAX_COMMITMENT_FIELDS = 3
COMMITMENT_MAX_SPACE = st.COMMITMENT_MAX_SPACE
# set_commitment charges at least this many bytes (``min_used_space``).
_COMMITMENT_MIN_SPACE = 100
# commitments/types.rs: Raw0..Raw128, BigRaw up to MAX_BIGRAW_COMMITMENT_SIZE_BYTES, the hashes.
_RAW_MAX = 128
_BIGRAW_MAX = 512
_HASH_VARIANTS = frozenset({"BlakeTwo256", "Sha256", "Keccak256", "ShaThree256"})


def _set_commitment(
    conn: sqlite3.Connection, block: int, params: Mapping[str, Any], origin: str
) -> list[Event]:
    """subtensor ``pallets/commitments/src/lib.rs::set_commitment``. Checks, in order: the
    origin is a hotkey registered on the subnet (the runtime's ``AllowCommitments``:
    ``AccountNotAllowedCommit``, also for a subnet that does not exist), at most 3 fields
    (``TooManyFieldsInCommitmentInfo``), then the space: each call uses the fields' bytes, at
    least 100, out of 3100 per account per epoch (``SubnetEpochIndex``; a new epoch starts
    from 0), else ``SpaceLimitExceeded``. Then ``CommitmentOf`` holds the fields, the block and
    a deposit of 0 (the runtime's deposits are free), and ``LastCommitment`` the block.

    Fields as the SDK composes them (one-key dicts: ``RawN`` with exactly N <= 128 bytes,
    ``BigRaw`` up to 512, a 32-byte hash variant, ``None``); anything else is ``InvalidCall``,
    as the SDK's encoder would refuse it. ``TimelockEncrypted`` and ``ResetBondsFlag`` are not
    modelled (no drand; no bonds reset): ``DevnetUnsupported``."""
    netuid = int(params["netuid"])
    if st.uid_of(conn, netuid, origin) is None:
        raise DispatchError(
            "AccountNotAllowedCommit",
            f"{origin} is not registered on netuid {netuid}: only a registered hotkey may commit; "
            f"{_register_hint(netuid)}",
        )
    fields = [_commitment_field(f) for f in _commitment_fields(params["info"])]
    if len(fields) > MAX_COMMITMENT_FIELDS:
        raise DispatchError(
            "TooManyFieldsInCommitmentInfo",
            f"{len(fields)} fields; a commitment holds at most {MAX_COMMITMENT_FIELDS}",
        )
    required = max(_COMMITMENT_MIN_SPACE, sum(len(data) for _, data in fields))
    epoch = int(_require_subnet(conn, netuid)["epoch_index"])
    row = conn.execute(
        "SELECT last_epoch, used_space FROM commitment_usage WHERE netuid = ? AND hotkey = ?",
        (netuid, origin),
    ).fetchone()
    used = 0 if row is None or int(row[0]) != epoch else int(row[1])
    if used + required > COMMITMENT_MAX_SPACE:
        raise DispatchError(
            "SpaceLimitExceeded",
            f"this commitment needs {required} bytes and {used} of the {COMMITMENT_MAX_SPACE} per "
            f"epoch are used; retry after the next epoch of netuid {netuid}",
        )
    conn.execute(
        "INSERT INTO commitment_usage (netuid, hotkey, last_epoch, used_space) VALUES (?, ?, ?, ?) "
        "ON CONFLICT(netuid, hotkey) DO UPDATE SET last_epoch = excluded.last_epoch, "
        "used_space = excluded.used_space",
        (netuid, origin, epoch, used + required),
    )
    stored = json.dumps([[variant, data.hex()] for variant, data in fields])
    conn.execute(
        "INSERT INTO commitments (netuid, hotkey, block, fields) VALUES (?, ?, ?, ?) "
        "ON CONFLICT(netuid, hotkey) DO UPDATE SET block = excluded.block, fields = excluded.fields",
        (netuid, origin, block, stored),
    )
    return [_event("Commitment", {"netuid": netuid, "who": origin}, module="Commitments")]


def _commitment_fields(info: Any) -> list[Any]:
    if not isinstance(info, Mapping) or not isinstance(info.get("fields"), (list, tuple)):
        raise DispatchError("InvalidCall", "info must be a CommitmentInfo: {'fields': [...]}")
    return list(info["fields"])


def _commitment_field(entry: Any) -> tuple[str, bytes]:
    """(variant, bytes) of one ``Data`` field as composed; DispatchError when malformed."""
    if entry == "None":
        return "None", b""
    if not isinstance(entry, Mapping) or len(entry) != 1:
        raise DispatchError("InvalidCall", f"a commitment field must be one Data variant, got {entry!r:.60}")
    ((variant, value),) = entry.items()
    if variant in ("TimelockEncrypted", "ResetBondsFlag"):
        raise DispatchError("DevnetUnsupported", f"the devnet does not model {variant} commitments")
    if variant == "None":
        return "None", b""
    try:
        data = commit_bytes(value)
    except (TypeError, ValueError):
        raise DispatchError("InvalidCall", f"the {variant} field holds no bytes") from None
    if variant.startswith("Raw") and variant[3:].isdigit():
        size = int(variant[3:])
        if size > _RAW_MAX or len(data) != size:
            raise DispatchError("InvalidCall", f"{variant} takes exactly {size} bytes (at most "
                                f"{_RAW_MAX}), got {len(data)}")
    elif variant == "BigRaw":
        if len(data) > _BIGRAW_MAX:
            raise DispatchError("InvalidCall", f"BigRaw takes at most {_BIGRAW_MAX} bytes, got {len(data)}")
    elif variant in _HASH_VARIANTS:
        if len(data) != 32:
            raise DispatchError("InvalidCall", f"{variant} takes exactly 32 bytes, got {len(data)}")
    else:
        raise DispatchError("InvalidCall", f"{variant!r} is no commitment Data variant")
    return str(variant), data


_CALLS: dict[tuple[str, str], _Handler] = {
    ("SubtensorModule", "burned_register"): _burned_register,
    ("SubtensorModule", "add_stake"): _add_stake,
    ("SubtensorModule", "serve_axon"): _serve_axon,
    ("SubtensorModule", "set_mechanism_weights"): _set_weights,
    ("SubtensorModule", "set_weights"): _set_weights,
    ("SubtensorModule", "commit_timelocked_mechanism_weights"): _commit_timelocked,
    ("SubtensorModule", "commit_timelocked_weights"): _commit_timelocked,
    ("Commitments", "set_commitment"): _set_commitment,
}

SUPPORTED_CALLS = frozenset(_CALLS)


# --- helpers --------------------------------------------------------------------


def _register_hint(netuid: int) -> str:
    command = f"python -m neurons.devnet register --netuid {netuid} --wallet.name …"
    return f"register it with `{command}`"


def _full_hint(conn: sqlite3.Connection, block: int, netuid: int, subnet: Mapping[str, Any]) -> str:
    """Why a full subnet has no uid to prune, and the one command that makes room."""
    protected = immunity(conn, block, netuid)
    n = st.neuron_count(conn, netuid)
    free = n - len(protected.owner) - len(protected.recent)
    grow = (
        f"python -m neurons.devnet set-hyperparameter --netuid {netuid} --name max_allowed_uids "
        f"--value {subnet['max_uids'] + 1}"
    )
    return (
        f"subnet {netuid} is full ({n} of {subnet['max_uids']} uids) and none may be pruned: "
        f"{len(protected.owner)} owner, {len(protected.recent)} immune, {free} non-immune (pruned "
        f"only while more than min_non_immune_uids={subnet['min_non_immune_uids']}); make room with "
        f"`{grow}`"
    )


def _event(name: str, attributes: dict[str, Any], *, module: str = "SubtensorModule") -> Event:
    return {"event": {"module_id": module, "event_id": name, "attributes": attributes}}


def _require_subnet(conn: sqlite3.Connection, netuid: int) -> dict[str, Any]:
    subnet = st.subnet_row(conn, netuid)
    if subnet is None:
        raise DispatchError("SubnetNotExists", f"subnet {netuid} does not exist")
    return subnet
