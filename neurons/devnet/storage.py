"""Devnet storage reads: the items and runtime API the bittensor SDK reads.

Values are returned the way the RPC backend decodes them (plain ints, strings,
lists, dicts). Storage the devnet does not model raises ``KeyError``, so an SDK
upgrade that starts reading something new fails loudly (the contract tests
catch it) instead of silently reading a default.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from typing import Any

from . import yuma

__all__ = [
    "query",
    "query_map",
    "runtime_call",
    "metagraph",
    "neurons",
    "hyperparameters",
    "next_epoch_start_block",
    "subnet_row",
    "uid_of",
    "neuron_count",
    "weights_row",
    "bonds_row",
    "stake_threshold",
    "axon_record",
    "FREE_BALANCE",
    "IMMUNE_OWNER_UIDS_LIMIT",
    "timelocked_commits",
    "commitment_record",
    "ZERO_ACCOUNT",
    "COMMITMENT_MAX_SPACE",
]

_RAO_PER_TAO = 10**9
FREE_BALANCE = 1_000_000 * _RAO_PER_TAO  # devnet coldkeys are rich; balances are not modelled
# pallets/subtensor/src/lib.rs DefaultImmuneOwnerUidsLimit: how many of the subnet owner's uids
# pruning spares (runtime.immunity). No devnet call sets it.
IMMUNE_OWNER_UIDS_LIMIT = 1
# The all-zero AccountId32 (ss58 format 42): subtensor's DefaultSubnetOwner.
ZERO_ACCOUNT = "5C4hrfjw9DjXZTzV3MwzrrAr9P1MJhSrvWGWqi1eSuyUpnhM"
# subtensor pallets/commitments/src/lib.rs DefaultMaxSpace: bytes per (netuid, account) per epoch.
COMMITMENT_MAX_SPACE = 3100


def query(conn: sqlite3.Connection, block: int, module: str, name: str, params: list[Any]) -> Any:
    """One storage item, decoded the way the RPC backend returns it (plain values).

    Raises KeyError for storage the devnet does not model, so an SDK upgrade that
    reads something new fails loudly instead of silently reading a default.
    """
    p = list(params or [])
    if module == "System" and name == "Account":
        return {"nonce": 0, "data": {"free": FREE_BALANCE, "reserved": 0, "frozen": 0}}
    if module == "Timestamp" and name == "Now":
        return None  # filled in by the substrate adapter (needs wall time)
    if module == "Commitments":
        return _commitments_query(conn, name, p)
    if module != "SubtensorModule":
        raise KeyError(f"{module}.{name}")
    if name in ("SubnetOwnerHotkey", "SubnetOwner"):
        # ValueQuery with DefaultSubnetOwner (the all-zero account): a missing subnet, or a
        # devnet subnet made without an owner, reads that account.
        subnet = subnet_row(conn, int(p[0]))
        column = "owner_hotkey" if name == "SubnetOwnerHotkey" else "owner_coldkey"
        return (subnet[column] if subnet is not None else "") or ZERO_ACCOUNT
    if name == "Uids":
        return uid_of(conn, int(p[0]), str(p[1]))
    if name == "Keys":
        row = conn.execute(
            "SELECT hotkey FROM neurons WHERE netuid = ? AND uid = ?", (int(p[0]), int(p[1]))
        ).fetchone()
        return None if row is None else row[0]
    if name == "Owner":
        row = conn.execute("SELECT coldkey FROM owners WHERE hotkey = ?", (str(p[0]),)).fetchone()
        return None if row is None else row[0]
    if name == "NetworksAdded":
        return subnet_row(conn, int(p[0])) is not None
    if name == "SubnetworkN":
        return neuron_count(conn, int(p[0]))
    if name in _NEURON_VECTORS:
        column = _NEURON_VECTORS[name]
        rows = conn.execute(
            f"SELECT {column} FROM neurons WHERE netuid = ? ORDER BY uid", (int(p[0]),)
        ).fetchall()
        return [bool(r[0]) if name in ("ValidatorPermit", "Active") else int(r[0]) for r in rows]
    if name == "StakeThreshold":
        return stake_threshold(conn)
    if name == "Bonds":
        return bonds_row(conn, int(p[0]), int(p[1]))
    if name == "Weights":
        return weights_row(conn, int(p[0]), int(p[1]))
    if name == "Axons":
        row = conn.execute(
            "SELECT ip, port, ip_type, protocol, version, axon_block FROM neurons "
            "WHERE netuid = ? AND hotkey = ?",
            (int(p[0]), str(p[1])),
        ).fetchone()
        return None if row is None or not row[0] else axon_record(row)
    if name == "CommitRevealWeightsEnabled":
        # ValueQuery with DefaultCommitRevealWeightsEnabled (true): a missing subnet reads true.
        subnet = subnet_row(conn, int(p[0]))
        return True if subnet is None else bool(subnet["commit_reveal_weights_enabled"])
    if name == "Yuma3On":
        # ValueQuery with DefaultYuma3 (the runtime's InitialYuma3On, false): a missing subnet
        # reads false.
        subnet = subnet_row(conn, int(p[0]))
        return False if subnet is None else bool(subnet["yuma3_enabled"])
    if name == "PendingEpochAt":
        return 0  # no owner-triggered epochs on the devnet (ValueQuery default 0)
    if name == "SubnetEpochConsensus":
        return "Yuma"
    if name == "Burn":
        return 0
    if name == "ImmuneOwnerUidsLimit":
        return IMMUNE_OWNER_UIDS_LIMIT
    if name == "BlockAtRegistration":
        # ValueQuery: a uid nobody holds reads 0.
        row = conn.execute(
            "SELECT registered_at FROM neurons WHERE netuid = ? AND uid = ?", (int(p[0]), int(p[1]))
        ).fetchone()
        return 0 if row is None else int(row[0])
    if name == "BlocksSinceLastStep":
        # Subtensor adds 1 per block and resets to 0 at the epoch: block - LastEpochBlock.
        # ValueQuery: a missing subnet reads the default 0.
        subnet = subnet_row(conn, int(p[0]))
        return 0 if subnet is None else block - subnet["last_epoch_block"]
    subnet_column = _SUBNET_COLUMNS.get(name)
    if subnet_column is not None:
        subnet = subnet_row(conn, int(p[0]))
        return None if subnet is None else subnet[subnet_column]
    raise KeyError(f"{module}.{name}")


# Per-uid vectors the epoch writes (persist_*_epoch_terms) or calls keep, by storage name.
_NEURON_VECTORS = {
    "LastUpdate": "last_update",
    "ValidatorPermit": "permit",
    "Incentive": "incentive",
    "Dividends": "dividends",
    "Consensus": "consensus",
    "ValidatorTrust": "validator_trust",
    "Active": "active",
}

_SUBNET_COLUMNS = {
    "Tempo": "tempo",
    "WeightsSetRateLimit": "weights_rate_limit",
    "MinAllowedWeights": "min_allowed_weights",
    "MaxWeightsLimit": "max_weights_limit",
    "WeightsVersionKey": "weights_version_key",
    "MaxAllowedUids": "max_uids",
    "ServingRateLimit": "serving_rate_limit",
    "MaxAllowedValidators": "max_allowed_validators",
    "ImmunityPeriod": "immunity_period",
    "MinNonImmuneUids": "min_non_immune_uids",
    "LastEpochBlock": "last_epoch_block",
    "NetworkRegisteredAt": "created_block",
    "RevealPeriodEpochs": "commit_reveal_period",
    "SubnetEpochIndex": "epoch_index",
}


def query_map(conn: sqlite3.Connection, module: str, name: str, params: list[Any]) -> list[tuple[Any, Any]]:
    """A whole storage map as ``(key, value)`` pairs; KeyError when not modelled."""
    p = list(params or [])
    if module == "Commitments" and name == "CommitmentOf":
        rows = conn.execute(
            "SELECT hotkey, block, fields FROM commitments WHERE netuid = ? ORDER BY hotkey", (int(p[0]),)
        ).fetchall()
        return [(hotkey, commitment_record(block, fields)) for hotkey, block, fields in rows]
    if module == "Commitments" and name == "RevealedCommitments":
        return []  # timelocked commitments are not modelled: nothing is ever revealed
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
    if name == "TimelockedWeightCommits":
        return timelocked_commits(conn, int(p[0]))
    if name == "Bonds":
        # The epoch's stored rows; a validator with no bonds has no entry (the chain stores an
        # empty row for every uid once an epoch ran: the SDK reads both as no bonds).
        uids = conn.execute(
            "SELECT DISTINCT uid FROM bonds WHERE netuid = ? ORDER BY uid", (int(p[0]),)
        ).fetchall()
        return [(uid, bonds_row(conn, int(p[0]), uid)) for (uid,) in uids]
    if name == "Weights":
        uids = conn.execute(
            "SELECT DISTINCT uid FROM weights WHERE netuid = ? ORDER BY uid", (int(p[0]),)
        ).fetchall()
        return [(uid, weights_row(conn, int(p[0]), uid)) for (uid,) in uids]
    raise KeyError(f"{module}.{name}")


def _commitments_query(conn: sqlite3.Connection, name: str, p: list[Any]) -> Any:
    """The Commitments pallet's items (pallets/commitments/src/lib.rs), all OptionQuery but
    ``MaxSpace``: None where nothing was committed."""
    if name == "MaxSpace":
        return COMMITMENT_MAX_SPACE  # no devnet call sets it
    if name in ("RevealedCommitments", "LastBondsReset"):
        return None  # no timelocked commitments, no ResetBondsFlag on the devnet
    netuid, hotkey = int(p[0]), str(p[1])
    if name in ("CommitmentOf", "LastCommitment"):
        row = conn.execute(
            "SELECT block, fields FROM commitments WHERE netuid = ? AND hotkey = ?", (netuid, hotkey)
        ).fetchone()
        if row is None:
            return None
        return commitment_record(*row) if name == "CommitmentOf" else int(row[0])
    if name == "UsedSpaceOf":
        row = conn.execute(
            "SELECT last_epoch, used_space FROM commitment_usage WHERE netuid = ? AND hotkey = ?",
            (netuid, hotkey),
        ).fetchone()
        return None if row is None else {"last_epoch": int(row[0]), "used_space": int(row[1])}
    raise KeyError(f"Commitments.{name}")


def commitment_record(block: int, fields: str) -> dict[str, Any]:
    """A ``CommitmentOf`` value (``Registration``) as the RPC decodes it: ``deposit`` (0: the
    runtime's commitment deposits are free), ``block``, ``info.fields`` with each ``Data`` field a
    one-key dict of ``0x`` hex (``{"Raw4": "0x00010203"}``), unit variants as their name."""
    decoded = [
        variant if variant == "None" else {variant: "0x" + data}
        for variant, data in json.loads(fields)
    ]
    return {"deposit": 0, "block": int(block), "info": {"fields": decoded}}


def timelocked_commits(
    conn: sqlite3.Connection, netuid_index: int
) -> list[tuple[int, list[tuple[str, int, str, int]]]]:
    """``TimelockedWeightCommits[netuid_index]``: ``(epoch, [(hotkey, commit_block, ciphertext,
    reveal_round)])`` per epoch with commits, in commit order; the ciphertext as ``0x`` hex, as
    the RPC decodes a ``BoundedVec<u8>``. The devnet's plaintext is never served. Mechanism
    storage indexes other than the netuid (mechanism 0) hold nothing."""
    rows = conn.execute(
        "SELECT epoch, hotkey, commit_block, ciphertext, reveal_round FROM timelocked_commits "
        "WHERE netuid = ? ORDER BY epoch, id", (netuid_index,)
    ).fetchall()
    out: dict[int, list[tuple[str, int, str, int]]] = {}
    for epoch, hotkey, block, ciphertext, reveal_round in rows:
        out.setdefault(int(epoch), []).append((hotkey, block, "0x" + bytes(ciphertext).hex(), reveal_round))
    return list(out.items())


def runtime_call(conn: sqlite3.Connection, block: int, api: str, method: str, params: list[Any]) -> Any:
    """One runtime API call, decoded the way the RPC backend returns it; KeyError when not modelled."""
    p = list(params or [])
    if api == "SubnetInfoRuntimeApi" and method == "get_metagraph":
        return metagraph(conn, block, int(p[0]))
    if api == "SubnetInfoRuntimeApi" and method == "get_subnet_hyperparams_v3":
        return hyperparameters(conn, int(p[0]))
    if api == "SubnetInfoRuntimeApi" and method == "get_next_epoch_start_block":
        return next_epoch_start_block(conn, int(p[0]))
    if api == "NeuronInfoRuntimeApi" and method in ("get_neurons_lite", "get_neurons"):
        return neurons(conn, int(p[0]), lite=method == "get_neurons_lite")
    raise KeyError(f"{api}.{method}")


def hyperparameters(conn: sqlite3.Connection, netuid: int) -> list[dict[str, Any]] | None:
    """``get_subnet_hyperparams_v3``: ``[{"name", "value": {type_tag: raw}}]``, None for a missing subnet.

    Only the hyperparameters the devnet models, with subtensor's names and type
    tags (rpc_info/subnet_info.rs); the rest are left out rather than invented.
    """
    subnet = subnet_row(conn, netuid)
    if subnet is None:
        return None
    entries = [
        ("immunity_period", "U16", subnet["immunity_period"]),
        ("min_allowed_weights", "U16", subnet["min_allowed_weights"]),
        ("max_weights_limit", "U16", subnet["max_weights_limit"]),
        ("tempo", "U16", subnet["tempo"]),
        ("weights_version", "U64", subnet["weights_version_key"]),
        ("weights_rate_limit", "U64", subnet["weights_rate_limit"]),
        ("kappa", "U16", yuma.KAPPA),
        ("activity_cutoff", "U64", yuma.activity_cutoff_blocks(subnet["tempo"])),
        ("activity_cutoff_factor", "U32", yuma.ACTIVITY_CUTOFF_FACTOR_MILLI),
        ("bonds_moving_avg", "U64", yuma.BONDS_MOVING_AVERAGE),
        ("max_validators", "U16", subnet["max_allowed_validators"]),
        ("commit_reveal_period", "U64", subnet["commit_reveal_period"]),
        ("commit_reveal_weights_enabled", "Bool", bool(subnet["commit_reveal_weights_enabled"])),
        # get_subnet_hyperparams_v3: 3 if get_yuma3_enabled, else 2.
        ("yuma_version", "U16", 3 if subnet["yuma3_enabled"] else 2),
    ]
    return [{"name": name, "value": {tag: value}} for name, tag, value in entries]


def next_epoch_start_block(conn: sqlite3.Connection, netuid: int) -> int | None:
    """``LastEpochBlock + tempo`` (subtensor's ``get_next_epoch_start_block``; the devnet has no
    owner-triggered epochs); None for a missing subnet or tempo 0."""
    subnet = subnet_row(conn, netuid)
    if subnet is None or not subnet["tempo"]:
        return None
    return int(subnet["last_epoch_block"]) + int(subnet["tempo"])


def neurons(conn: sqlite3.Connection, netuid: int, *, lite: bool) -> list[dict[str, Any]]:
    """``NeuronInfoRuntimeApi.get_neurons_lite`` / ``get_neurons`` records ([] for a missing subnet).

    Fields as subtensor's rpc_info/neuron_info.rs: consensus, validator trust, incentive,
    dividends, active and permit as the last epoch wrote them; rank and trust read 0 there too
    ("Deprecated: no longer computed"); emission, pruning score and prometheus read zero (not
    modelled); the full records add the ``weights`` and ``bonds`` rows.
    """
    rows = conn.execute(
        "SELECT uid, hotkey, coldkey, stake, permit, ip, port, ip_type, protocol, version, "
        "axon_block, incentive, dividends, last_update, consensus, validator_trust, active "
        "FROM neurons WHERE netuid = ? ORDER BY uid",
        (netuid,),
    ).fetchall()
    records = []
    for r in rows:
        record: dict[str, Any] = {
            "hotkey": r[1],
            "coldkey": r[2],
            "uid": r[0],
            "netuid": netuid,
            "active": bool(r[16]),
            "axon_info": axon_record((r[5], r[6], r[7], r[8], r[9], r[10])),
            "prometheus_info": {"block": 0, "version": 0, "ip": 0, "port": 0, "ip_type": 0},
            "stake": [(r[2], r[3])],  # subtensor: one (coldkey, stake on this subnet) entry
            "rank": 0,
            "emission": 0,
            "incentive": r[11],
            "consensus": r[14],
            "trust": 0,
            "validator_trust": r[15],
            "dividends": r[12],
            "last_update": r[13],
            "validator_permit": bool(r[4]),
            "pruning_score": 0,
        }
        if not lite:
            record["weights"] = weights_row(conn, netuid, r[0])
            record["bonds"] = bonds_row(conn, netuid, r[0])
        records.append(record)
    return records


def metagraph(conn: sqlite3.Connection, block: int, netuid: int) -> dict[str, Any] | None:
    """The ``SubnetInfoRuntimeApi.get_metagraph`` record (plain decoded dict), or None."""
    subnet = subnet_row(conn, netuid)
    if subnet is None:
        return None
    rows = conn.execute(
        "SELECT uid, hotkey, coldkey, stake, permit, ip, port, ip_type, protocol, version, "
        "axon_block, incentive, dividends, last_update, registered_at, consensus, active "
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
        # The weight rules, as subtensor's rpc_info/metagraph.rs Metagraph carries them.
        "min_allowed_weights": subnet["min_allowed_weights"],
        "max_weights_limit": subnet["max_weights_limit"],
        "tao_in": 0,
        "alpha_in": 0,
        "moving_price": None,
        "hotkeys": [r[1] for r in rows],
        "coldkeys": [r[2] for r in rows],
        "identities": [None] * n,
        "axons": [axon_record((r[5], r[6], r[7], r[8], r[9], r[10])) for r in rows],
        "active": [bool(r[16]) for r in rows],
        "validator_permit": [bool(r[4]) for r in rows],
        "last_update": [r[13] for r in rows],
        "block_at_registration": [r[14] for r in rows],
        # subtensor rpc_info/metagraph.rs: rank and trust are "Deprecated: no longer computed"
        # (empty vectors there; the SDK reads both as 0).
        "rank": list(zeros),
        "trust": list(zeros),
        "consensus": [r[15] for r in rows],
        "incentives": [r[11] for r in rows],
        "dividends": [r[12] for r in rows],
        "pruning_score": list(zeros),
        "emission": list(zeros),
        "alpha_stake": [r[3] for r in rows],
        "tao_stake": list(zeros),
        "total_stake": [r[3] for r in rows],
    }


# --- helpers ---------------------------------------------------------------------


def axon_record(row: Sequence[Any]) -> dict[str, Any]:
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


def weights_row(conn: sqlite3.Connection, netuid: int, uid: int) -> list[tuple[int, int]]:
    return list(
        conn.execute(
            "SELECT dest, value FROM weights WHERE netuid = ? AND uid = ? ORDER BY dest",
            (netuid, uid),
        )
    )


def bonds_row(conn: sqlite3.Connection, netuid: int, uid: int) -> list[tuple[int, int]]:
    """The uid's stored bonds ``[(dest, u16)]``, as the chain stores them: column max-upscaled
    (original Yuma) or the bonds' own fractions (Yuma3)."""
    return list(
        conn.execute(
            "SELECT dest, value FROM bonds WHERE netuid = ? AND uid = ? ORDER BY dest",
            (netuid, uid),
        )
    )


def stake_threshold(conn: sqlite3.Connection) -> int:
    """The chain-wide ``StakeThreshold`` in rao (subtensor's ``DefaultStakeThreshold`` 0 until
    the admin sets one)."""
    row = conn.execute("SELECT value FROM meta WHERE key = 'stake_threshold'").fetchone()
    return yuma.STAKE_THRESHOLD if row is None else int(row[0])


def subnet_row(conn: sqlite3.Connection, netuid: int) -> dict[str, Any] | None:
    cur = conn.execute("SELECT * FROM subnets WHERE netuid = ?", (netuid,))
    row = cur.fetchone()
    if row is None:
        return None
    return dict(zip([d[0] for d in cur.description], row))


def uid_of(conn: sqlite3.Connection, netuid: int, hotkey: str) -> int | None:
    row = conn.execute(
        "SELECT uid FROM neurons WHERE netuid = ? AND hotkey = ?", (netuid, hotkey)
    ).fetchone()
    return None if row is None else int(row[0])


def neuron_count(conn: sqlite3.Connection, netuid: int) -> int:
    row = conn.execute("SELECT COUNT(*) FROM neurons WHERE netuid = ?", (netuid,)).fetchone()
    return int(row[0])
