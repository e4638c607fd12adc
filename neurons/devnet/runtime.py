"""Devnet pallet logic: call dispatch, the lazy epoch, admin ops (reads: ``storage``).

Every function takes an open sqlite connection inside a ``Store.transaction``
and the current block. Dispatch raises :class:`DispatchError` (named like the
real subtensor error) before writing anything, so a rejected call writes
nothing once the transaction rolls back.

What it models: subnets with tempo / weights rate limit / min allowed weights /
max weight limit / version key / serving rate limit; ``burned_register`` (no burn: coldkeys have
unlimited balance); ``add_stake``; ``serve_axon``; ``set_mechanism_weights``
and ``set_weights`` (refused while commit-reveal is on, as subtensor's dispatch refuses them);
``commit_timelocked_mechanism_weights`` and the reveal at the reveal epoch (see
:func:`run_epochs`; the plaintext comes from ``timelock``, not drand); validator permits
set by the devnet admin; an epoch every ``tempo`` blocks that turns permitted
validators' stake-weighted weights into miner incentive; the admin's
``replace_neuron`` (deregistration) and ``swap_hotkey``.
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

__all__ = [
    "DispatchError",
    "SubnetParams",
    "create_subnet",
    "set_permit",
    "dispatch",
    "run_epochs",
    "SUPPORTED_CALLS",
    "U16_MAX",
    "HYPERPARAMETERS",
    "set_hyperparameter",
    "replace_neuron",
    "swap_hotkey",
    "Event",
    "COMMIT_REVEAL_VERSION",
    "MAX_COMMIT_BYTES",
    "record_plaintext",
    "commit_bytes",
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
    # subtensor lib.rs DefaultCommitRevealWeightsEnabled (true, as on finney) and
    # DefaultRevealPeriodEpochs (1): a commit in epoch e is revealed as epoch e + 1 starts.
    commit_reveal_weights_enabled: bool = True
    commit_reveal_period: int = 1


# --- admin (devnet "sudo") ------------------------------------------------------


def create_subnet(
    conn: sqlite3.Connection, block: int, netuid: int, params: SubnetParams, owner: str = ""
) -> None:
    """Create a subnet; raises DispatchError("SubnetExists") when taken."""
    if netuid < 1 or netuid > 4095:
        raise DispatchError("InvalidNetuid", f"netuid must be in 1..4095, got {netuid}")
    if (
        params.tempo < 1 or params.weights_rate_limit < 0 or params.max_uids < 1
        or params.serving_rate_limit < 0
        or not _REVEAL_PERIODS[0] <= params.commit_reveal_period <= _REVEAL_PERIODS[1]
    ):
        raise DispatchError(
            "InvalidParams",
            "tempo and max_uids must be >= 1, rate limits >= 0, commit_reveal_period in "
            f"{_REVEAL_PERIODS[0]}..{_REVEAL_PERIODS[1]}",
        )
    if st.subnet_row(conn, netuid) is not None:
        raise DispatchError("SubnetExists", f"subnet {netuid} already exists")
    conn.execute(
        "INSERT INTO subnets (netuid, tempo, weights_rate_limit, min_allowed_weights, "
        "max_weights_limit, weights_version_key, max_uids, created_block, last_epoch_block, "
        "owner_coldkey, owner_hotkey, serving_rate_limit, commit_reveal_weights_enabled, "
        "commit_reveal_period) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
            owner,
            params.serving_rate_limit,
            int(params.commit_reveal_weights_enabled),
            params.commit_reveal_period,
        ),
    )


def set_permit(conn: sqlite3.Connection, netuid: int, hotkey: str, permit: bool) -> int:
    """Grant or revoke a validator permit; returns the hotkey's uid."""
    uid = st.uid_of(conn, netuid, hotkey)
    if uid is None:
        raise DispatchError(
            "HotKeyNotRegisteredInSubNet", f"{hotkey} is not registered on netuid {netuid}"
        )
    conn.execute(
        "UPDATE neurons SET permit = ? WHERE netuid = ? AND uid = ?", (int(permit), netuid, uid)
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
    # admin-utils sudo_set_commit_reveal_weights_enabled (a bool: 0 or 1) and
    # sudo_set_commit_reveal_weights_interval -> weights.rs set_reveal_period (1..100).
    "commit_reveal_weights_enabled": ("commit_reveal_weights_enabled", 0, 1),
    "commit_reveal_period": ("commit_reveal_period", *_REVEAL_PERIODS),
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
    return uid


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

    Missed epochs collapse into one run: nothing the epoch reads changes between them
    (every write first calls this), except a reveal; so while commits are pending, each
    missed epoch runs on its own, after the reveal due at its block, and once none are
    left the rest collapse. With no epoch due, the reveal still runs at ``block`` (the chain
    tries every block), which only finds something after ``commit_reveal_period`` changed.
    The store calls this at the start of every transaction (see ``store``).
    """
    for netuid, tempo, last, index in conn.execute(
        "SELECT netuid, tempo, last_epoch_block, epoch_index FROM subnets"
    ).fetchall():
        if tempo <= 0 or block - last < tempo:
            _reveal_commits(conn, netuid, block, index)
            continue
        count = (block - last) // tempo
        for k in range(1, count + 1):
            # At an epoch block current_epoch_with_lookahead is the index the epoch will give.
            _reveal_commits(conn, netuid, last + k * tempo, index + k)
            if k == count or not _has_commits(conn, netuid):
                break
            _epoch(conn, netuid)
        _epoch(conn, netuid)
        conn.execute(
            "UPDATE subnets SET last_epoch_block = ?, epoch_index = ? WHERE netuid = ?",
            (last + tempo * count, index + count, netuid),
        )


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


def _epoch(conn: sqlite3.Connection, netuid: int) -> None:
    """Incentive = stake-weighted sum of permitted validators' normalised rows.

    Self-weights are ignored. Dividends go to validators by stake, among those
    that set weights. Both are written as u16 fractions (PerU16).
    """
    neurons = conn.execute(
        "SELECT uid, stake, permit FROM neurons WHERE netuid = ?", (netuid,)
    ).fetchall()
    score = {uid: 0.0 for uid, _, _ in neurons}
    voters: dict[int, float] = {}
    for uid, stake, permit in neurons:
        if not permit or stake <= 0:
            continue
        row = [
            (dest, value)
            for dest, value in conn.execute(
                "SELECT dest, value FROM weights WHERE netuid = ? AND uid = ?", (netuid, uid)
            )
            if dest != uid and dest in score
        ]
        total = sum(value for _, value in row)
        if not total:
            continue
        voters[uid] = float(stake)
        for dest, value in row:
            score[dest] += stake * value / total
    score_total = sum(score.values())
    stake_total = sum(voters.values())
    for uid in score:
        incentive = round(U16_MAX * score[uid] / score_total) if score_total else 0
        dividends = round(U16_MAX * voters.get(uid, 0.0) / stake_total) if stake_total else 0
        conn.execute(
            "UPDATE neurons SET incentive = ?, dividends = ? WHERE netuid = ? AND uid = ?",
            (incentive, dividends, netuid, uid),
        )


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
        raise DispatchError("TooManyRegistrationsThisBlock", f"subnet {netuid} is full")
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


_CALLS: dict[tuple[str, str], _Handler] = {
    ("SubtensorModule", "burned_register"): _burned_register,
    ("SubtensorModule", "add_stake"): _add_stake,
    ("SubtensorModule", "serve_axon"): _serve_axon,
    ("SubtensorModule", "set_mechanism_weights"): _set_weights,
    ("SubtensorModule", "set_weights"): _set_weights,
    ("SubtensorModule", "commit_timelocked_mechanism_weights"): _commit_timelocked,
    ("SubtensorModule", "commit_timelocked_weights"): _commit_timelocked,
}

SUPPORTED_CALLS = frozenset(_CALLS)


# --- helpers --------------------------------------------------------------------


def _register_hint(netuid: int) -> str:
    command = f"python -m neurons.devnet register --netuid {netuid} --wallet.name …"
    return f"register it with `{command}`"


def _event(name: str, attributes: dict[str, Any]) -> Event:
    return {"event": {"module_id": "SubtensorModule", "event_id": name, "attributes": attributes}}


def _require_subnet(conn: sqlite3.Connection, netuid: int) -> dict[str, Any]:
    subnet = st.subnet_row(conn, netuid)
    if subnet is None:
        raise DispatchError("SubnetNotExists", f"subnet {netuid} does not exist")
    return subnet
