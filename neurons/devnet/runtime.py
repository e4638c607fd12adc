"""Devnet pallet logic: storage reads, call dispatch, the lazy epoch, admin ops.

Every function takes an open sqlite connection inside a ``Store.transaction``
and the current block. Dispatch raises :class:`DispatchError` (named like the
real subtensor error) before writing anything, so a rejected call writes
nothing once the transaction rolls back.

What it models: subnets with tempo / weights rate limit / min allowed weights /
max weight limit / version key; ``burned_register`` (no burn: coldkeys have
unlimited balance); ``add_stake``; ``serve_axon``; ``set_mechanism_weights``
and ``set_weights`` (plaintext; commit-reveal is always off); validator permits
set by the devnet admin; an epoch every ``tempo`` blocks that turns permitted
validators' stake-weighted weights into miner incentive.
"""

from __future__ import annotations

import ipaddress
import sqlite3
from dataclasses import dataclass
from typing import Any

__all__ = [
    "DispatchError",
    "SubnetParams",
    "create_subnet",
    "set_permit",
    "dispatch",
    "query",
    "query_map",
    "metagraph",
    "run_epochs",
    "U16_MAX",
]

U16_MAX = 65535
RAO_PER_TAO = 10**9
_FREE_BALANCE = 1_000_000 * RAO_PER_TAO  # devnet coldkeys are rich; balances are not modelled


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


# --- admin (devnet "sudo") ------------------------------------------------------


def create_subnet(
    conn: sqlite3.Connection, block: int, netuid: int, params: SubnetParams, owner: str = ""
) -> None:
    """Create a subnet; raises DispatchError("SubnetExists") when taken."""
    if netuid < 1 or netuid > 4095:
        raise DispatchError("InvalidNetuid", f"netuid must be in 1..4095, got {netuid}")
    if params.tempo < 1 or params.weights_rate_limit < 0 or params.max_uids < 1:
        raise DispatchError("InvalidParams", "tempo and max_uids must be >= 1, rate limit >= 0")
    if _subnet(conn, netuid) is not None:
        raise DispatchError("SubnetExists", f"subnet {netuid} already exists")
    conn.execute(
        "INSERT INTO subnets VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
        ),
    )


def set_permit(conn: sqlite3.Connection, netuid: int, hotkey: str, permit: bool) -> int:
    """Grant or revoke a validator permit; returns the hotkey's uid."""
    uid = _uid(conn, netuid, hotkey)
    if uid is None:
        raise DispatchError(
            "HotKeyNotRegisteredInSubNet", f"{hotkey} is not registered on netuid {netuid}"
        )
    conn.execute(
        "UPDATE neurons SET permit = ? WHERE netuid = ? AND uid = ?", (int(permit), netuid, uid)
    )
    return uid


# --- epoch ----------------------------------------------------------------------


def run_epochs(conn: sqlite3.Connection, block: int) -> None:
    """Run each subnet's epoch if one fell due since the last run.

    Epochs fall at ``created_block + k * tempo``. Missed epochs collapse into one
    run (state does not change between them, except for weights written in the
    gap, which the single run then sees).
    """
    for netuid, tempo, created, last in conn.execute(
        "SELECT netuid, tempo, created_block, last_epoch_block FROM subnets"
    ).fetchall():
        due = created + tempo * ((block - created) // tempo)
        if due > last:
            _epoch(conn, netuid)
            conn.execute("UPDATE subnets SET last_epoch_block = ? WHERE netuid = ?", (due, netuid))


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


def dispatch(
    conn: sqlite3.Connection, block: int, module: str, function: str, params: dict, origin: str
) -> list[dict]:
    """Apply a signed call from ``origin``; returns triggered events."""
    handler = _CALLS.get((module, function))
    if handler is None:
        raise DispatchError("CallNotSupported", f"devnet does not model {module}.{function}")
    return handler(conn, block, params, origin)


def _burned_register(conn, block, params, origin) -> list[dict]:
    netuid, hotkey = int(params["netuid"]), str(params["hotkey"])
    subnet = _require_subnet(conn, netuid)
    owner = conn.execute("SELECT coldkey FROM owners WHERE hotkey = ?", (hotkey,)).fetchone()
    if owner is not None and owner[0] != origin:
        raise DispatchError(
            "NonAssociatedColdKey", f"hotkey {hotkey} belongs to another coldkey ({owner[0]})"
        )
    if _uid(conn, netuid, hotkey) is not None:
        raise DispatchError(
            "HotKeyAlreadyRegisteredInSubNet", f"{hotkey} is already registered on {netuid}"
        )
    n = _count(conn, netuid)
    if n >= subnet["max_uids"]:
        raise DispatchError("TooManyRegistrationsThisBlock", f"subnet {netuid} is full")
    conn.execute(
        "INSERT OR IGNORE INTO owners (hotkey, coldkey) VALUES (?, ?)", (hotkey, origin)
    )
    conn.execute(
        "INSERT INTO neurons (netuid, uid, hotkey, coldkey, registered_at) VALUES (?, ?, ?, ?, ?)",
        (netuid, n, hotkey, origin, block),
    )
    return [_event("NeuronRegistered", {"netuid": netuid, "uid": n, "hotkey": hotkey})]


def _add_stake(conn, block, params, origin) -> list[dict]:
    netuid, hotkey = int(params["netuid"]), str(params["hotkey"])
    amount = int(params["amount_staked"])
    _require_subnet(conn, netuid)
    if amount <= 0:
        raise DispatchError("AmountTooLow", "stake amount must be positive")
    if _uid(conn, netuid, hotkey) is None:
        raise DispatchError(
            "HotKeyAccountNotExists", f"{hotkey} is not registered on netuid {netuid}"
        )
    conn.execute(
        "UPDATE neurons SET stake = stake + ? WHERE netuid = ? AND hotkey = ?",
        (amount, netuid, hotkey),
    )
    return [_event("StakeAdded", {"hotkey": hotkey, "netuid": netuid, "amount": amount})]


def _serve_axon(conn, block, params, origin) -> list[dict]:
    netuid = int(params["netuid"])
    _require_subnet(conn, netuid)
    uid = _uid(conn, netuid, origin)
    if uid is None:
        raise DispatchError(
            "HotKeyNotRegisteredInNetwork",
            f"{origin} is not registered on netuid {netuid}; {_register_hint(netuid)}",
        )
    ip_type, ip, port = int(params["ip_type"]), int(params["ip"]), int(params["port"])
    if ip_type not in (4, 6):
        raise DispatchError("InvalidIpType", f"ip_type must be 4 or 6, got {ip_type}")
    try:
        address = ipaddress.ip_address(ip) if ip_type == 4 else ipaddress.IPv6Address(ip)
    except ValueError:
        address = None
    if address is None or address.version != ip_type or ip == 0 or not 0 < port < 65536:
        raise DispatchError("InvalidIpAddress", f"{ip}:{port} is not a valid endpoint")
    conn.execute(
        "UPDATE neurons SET ip = ?, port = ?, ip_type = ?, protocol = ?, version = ?, "
        "axon_block = ? WHERE netuid = ? AND uid = ?",
        (ip, port, ip_type, int(params["protocol"]), int(params["version"]), block, netuid, uid),
    )
    return [_event("AxonServed", {"netuid": netuid, "hotkey": origin})]


def _set_weights(conn, block, params, origin) -> list[dict]:
    netuid = int(params["netuid"])
    subnet = _require_subnet(conn, netuid)
    if int(params.get("mecid", 0) or 0) != 0:
        raise DispatchError("MechanismDoesNotExist", "devnet subnets have one mechanism (0)")
    uid = _uid(conn, netuid, origin)
    if uid is None:
        raise DispatchError(
            "HotKeyNotRegisteredInSubNet",
            f"{origin} is not registered on netuid {netuid}; {_register_hint(netuid)}",
        )
    dests = [int(d) for d in params["dests"]]
    values = [int(v) for v in params["weights"]]
    if int(params["version_key"]) < subnet["weights_version_key"]:
        raise DispatchError(
            "IncorrectWeightVersionKey",
            f"version_key {params['version_key']} < required {subnet['weights_version_key']}",
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
    if last > 0 and block - last < limit:
        raise DispatchError(
            "SettingWeightsTooFast",
            f"weights set {block - last} blocks ago; the rate limit is {limit} blocks; "
            f"retry in {limit - (block - last)} blocks",
        )
    if len(dests) != len(values):
        raise DispatchError("WeightVecNotEqualSize", "dests and weights differ in length")
    if len(set(dests)) != len(dests):
        raise DispatchError("DuplicateUids", "a uid appears twice")
    n = _count(conn, netuid)
    if any(d < 0 or d >= n for d in dests) or any(v < 0 or v > U16_MAX for v in values):
        raise DispatchError("UidVecContainInvalidOne", "a uid is not on the subnet")
    if not self_weight and len(dests) < subnet["min_allowed_weights"]:
        raise DispatchError(
            "WeightVecLengthIsLow", f"need at least {subnet['min_allowed_weights']} weights"
        )
    total = sum(values)
    if not self_weight and len(values) > 1 and total and (
        max(values) * U16_MAX > subnet["max_weights_limit"] * total
    ):
        raise DispatchError("MaxWeightExceeded", "a weight exceeds the subnet's max weight limit")
    top = max(values) if values else 0
    conn.execute("DELETE FROM weights WHERE netuid = ? AND uid = ?", (netuid, uid))
    conn.executemany(
        "INSERT INTO weights (netuid, uid, dest, value) VALUES (?, ?, ?, ?)",
        [(netuid, uid, d, round(v * U16_MAX / top)) for d, v in zip(dests, values) if v and top],
    )
    conn.execute(
        "UPDATE neurons SET last_update = ? WHERE netuid = ? AND uid = ?", (block, netuid, uid)
    )
    return [_event("WeightsSet", {"netuid": netuid, "uid": uid})]


_CALLS = {
    ("SubtensorModule", "burned_register"): _burned_register,
    ("SubtensorModule", "add_stake"): _add_stake,
    ("SubtensorModule", "serve_axon"): _serve_axon,
    ("SubtensorModule", "set_mechanism_weights"): _set_weights,
    ("SubtensorModule", "set_weights"): _set_weights,
}

SUPPORTED_CALLS = frozenset(_CALLS)


# --- storage --------------------------------------------------------------------


def query(conn: sqlite3.Connection, block: int, module: str, name: str, params: list) -> Any:
    """One storage item, decoded the way the RPC backend returns it (plain values).

    Raises KeyError for storage the devnet does not model, so an SDK upgrade that
    reads something new fails loudly instead of silently reading a default.
    """
    p = list(params or [])
    if module == "System" and name == "Account":
        return {"nonce": 0, "data": {"free": _FREE_BALANCE, "reserved": 0, "frozen": 0}}
    if module == "Timestamp" and name == "Now":
        return None  # filled in by the substrate adapter (needs wall time)
    if module != "SubtensorModule":
        raise KeyError(f"{module}.{name}")
    if name == "Uids":
        return _uid(conn, int(p[0]), str(p[1]))
    if name == "Keys":
        row = conn.execute(
            "SELECT hotkey FROM neurons WHERE netuid = ? AND uid = ?", (int(p[0]), int(p[1]))
        ).fetchone()
        return None if row is None else row[0]
    if name == "Owner":
        row = conn.execute("SELECT coldkey FROM owners WHERE hotkey = ?", (str(p[0]),)).fetchone()
        return None if row is None else row[0]
    if name == "NetworksAdded":
        return _subnet(conn, int(p[0])) is not None
    if name == "SubnetworkN":
        return _count(conn, int(p[0]))
    if name in ("LastUpdate", "ValidatorPermit", "Incentive", "Dividends"):
        column = {
            "LastUpdate": "last_update",
            "ValidatorPermit": "permit",
            "Incentive": "incentive",
            "Dividends": "dividends",
        }[name]
        rows = conn.execute(
            f"SELECT {column} FROM neurons WHERE netuid = ? ORDER BY uid", (int(p[0]),)
        ).fetchall()
        return [bool(r[0]) if name == "ValidatorPermit" else int(r[0]) for r in rows]
    if name == "Weights":
        return _weights_row(conn, int(p[0]), int(p[1]))
    if name == "Axons":
        row = conn.execute(
            "SELECT ip, port, ip_type, protocol, version, axon_block FROM neurons "
            "WHERE netuid = ? AND hotkey = ?",
            (int(p[0]), str(p[1])),
        ).fetchone()
        return None if row is None or not row[0] else _axon(row)
    if name == "CommitRevealWeightsEnabled":
        return False
    if name == "SubnetEpochConsensus":
        return "Yuma"
    if name == "Burn":
        return 0
    column = _SUBNET_COLUMNS.get(name)
    if column is not None:
        subnet = _subnet(conn, int(p[0]))
        return None if subnet is None else subnet[column]
    raise KeyError(f"{module}.{name}")


_SUBNET_COLUMNS = {
    "Tempo": "tempo",
    "WeightsSetRateLimit": "weights_rate_limit",
    "MinAllowedWeights": "min_allowed_weights",
    "MaxWeightsLimit": "max_weights_limit",
    "WeightsVersionKey": "weights_version_key",
    "MaxAllowedUids": "max_uids",
    "LastEpochBlock": "last_epoch_block",
    "NetworkRegisteredAt": "created_block",
}


def query_map(conn: sqlite3.Connection, module: str, name: str, params: list) -> list[tuple]:
    """A whole storage map as ``(key, value)`` pairs; KeyError when not modelled."""
    p = list(params or [])
    if module == "Commitments" and name in ("CommitmentOf", "RevealedCommitments"):
        return []
    if module != "SubtensorModule":
        raise KeyError(f"{module}.{name}")
    # TokenSymbol is deliberately absent: Client.connect then skips its on-disk
    # symbol cache, which is keyed by network label and shared with btcli.
    if name == "Tempo":
        return list(conn.execute("SELECT netuid, tempo FROM subnets ORDER BY netuid"))
    if name == "NetworksAdded":
        return [(n, True) for (n,) in conn.execute("SELECT netuid FROM subnets ORDER BY netuid")]
    if name == "Uids":
        return list(
            conn.execute("SELECT hotkey, uid FROM neurons WHERE netuid = ? ORDER BY uid", (p[0],))
        )
    if name == "Keys":
        return list(
            conn.execute("SELECT uid, hotkey FROM neurons WHERE netuid = ? ORDER BY uid", (p[0],))
        )
    if name == "Weights":
        uids = conn.execute(
            "SELECT DISTINCT uid FROM weights WHERE netuid = ? ORDER BY uid", (int(p[0]),)
        ).fetchall()
        return [(uid, _weights_row(conn, int(p[0]), uid)) for (uid,) in uids]
    raise KeyError(f"{module}.{name}")


def metagraph(conn: sqlite3.Connection, block: int, netuid: int) -> dict | None:
    """The ``SubnetInfoRuntimeApi.get_metagraph`` record (plain decoded dict), or None."""
    subnet = _subnet(conn, netuid)
    if subnet is None:
        return None
    rows = conn.execute(
        "SELECT uid, hotkey, coldkey, stake, permit, ip, port, ip_type, protocol, version, "
        "axon_block, incentive, dividends, last_update, registered_at "
        "FROM neurons WHERE netuid = ? ORDER BY uid",
        (netuid,),
    ).fetchall()
    n = len(rows)
    zeros = [0] * n
    return {
        "netuid": netuid,
        "name": list(f"devnet-{netuid}".encode()),
        "symbol": list("\u03b1".encode()),
        "identity": None,
        "network_registered_at": subnet["created_block"],
        "owner_hotkey": subnet["owner_hotkey"],
        "owner_coldkey": subnet["owner_coldkey"],
        "block": block,
        "tempo": subnet["tempo"],
        "last_step": subnet["last_epoch_block"],
        "blocks_since_last_step": block - subnet["last_epoch_block"],
        "num_uids": n,
        "max_uids": subnet["max_uids"],
        "tao_in": 0,
        "alpha_in": 0,
        "moving_price": None,
        "hotkeys": [r[1] for r in rows],
        "coldkeys": [r[2] for r in rows],
        "identities": [None] * n,
        "axons": [_axon((r[5], r[6], r[7], r[8], r[9], r[10])) for r in rows],
        "active": [True] * n,
        "validator_permit": [bool(r[4]) for r in rows],
        "last_update": [r[13] for r in rows],
        "block_at_registration": [r[14] for r in rows],
        "rank": list(zeros),
        "trust": list(zeros),
        "consensus": list(zeros),
        "incentives": [r[11] for r in rows],
        "dividends": [r[12] for r in rows],
        "pruning_score": list(zeros),
        "emission": list(zeros),
        "alpha_stake": [r[3] for r in rows],
        "tao_stake": list(zeros),
        "total_stake": [r[3] for r in rows],
    }


# --- helpers --------------------------------------------------------------------


def _register_hint(netuid: int) -> str:
    return f"register it with `python -m neurons.devnet register --netuid {netuid} --wallet.name …`"


def _event(name: str, attributes: dict) -> dict:
    return {"event": {"module_id": "SubtensorModule", "event_id": name, "attributes": attributes}}


def _axon(row: tuple) -> dict:
    ip, port, ip_type, protocol, version, block = row
    return {
        "block": block,
        "version": version,
        "ip": ip,
        "port": port,
        "ip_type": ip_type,
        "protocol": protocol,
        "placeholder1": 0,
        "placeholder2": 0,
    }


def _weights_row(conn: sqlite3.Connection, netuid: int, uid: int) -> list[tuple[int, int]]:
    return list(
        conn.execute(
            "SELECT dest, value FROM weights WHERE netuid = ? AND uid = ? ORDER BY dest",
            (netuid, uid),
        )
    )


def _subnet(conn: sqlite3.Connection, netuid: int) -> dict | None:
    cur = conn.execute("SELECT * FROM subnets WHERE netuid = ?", (netuid,))
    row = cur.fetchone()
    if row is None:
        return None
    return dict(zip([d[0] for d in cur.description], row))


def _require_subnet(conn: sqlite3.Connection, netuid: int) -> dict:
    subnet = _subnet(conn, netuid)
    if subnet is None:
        raise DispatchError("SubnetNotExists", f"subnet {netuid} does not exist")
    return subnet


def _uid(conn: sqlite3.Connection, netuid: int, hotkey: str) -> int | None:
    row = conn.execute(
        "SELECT uid FROM neurons WHERE netuid = ? AND hotkey = ?", (netuid, hotkey)
    ).fetchone()
    return None if row is None else int(row[0])


def _count(conn: sqlite3.Connection, netuid: int) -> int:
    return int(conn.execute("SELECT COUNT(*) FROM neurons WHERE netuid = ?", (netuid,)).fetchone()[0])
