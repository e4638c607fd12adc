"""How the devnet learns a commit's plaintext: the one place it reaches around the SDK.

On finney a timelocked weight commit (``commit_timelocked_mechanism_weights``) is
decrypted at its reveal epoch with the drand round signature the chain's drand
pallet has stored (subtensor ``coinbase/reveal_commits.rs::reveal_crv3_commits_for_subnet``).
The devnet has no internet, so no drand pulses, so it cannot decrypt. Instead
:func:`install` wraps ``bittensor_core.get_encrypted_commit_v2`` (the function the
SDK's ``SetWeights`` / ``CommitWeights`` call to encrypt, ``intents/weights.py::
_build_timelocked``) in this process: the wrapper calls the real function and
remembers ``ciphertext -> (uids, values, version_key, hotkey)``. When a
``DevnetSubstrate`` submits the commit it looks the ciphertext up with
:func:`recall` and stores the plaintext beside the ciphertext in the state file.

So the SDK's real encryption runs, the ciphertext on the devnet is the SDK's
output, and the validator's code path is exactly the one it takes on finney.
A commit encrypted in a process that never built a ``DevnetSubstrate`` has no
known plaintext; the devnet drops it at the reveal with a reason saying so.

Only the devnet package imports this module (``DevnetSubstrate.__init__`` calls
:func:`install`); chain access and the neurons know nothing of it. ``install`` is
idempotent and patches the module attribute the SDK reads at call time
(``bittensor_core.get_encrypted_commit_v2``), nothing else.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import bittensor_core

__all__ = ["CommitPlaintext", "install", "installed", "recall"]

# The wrapper remembers this many ciphertexts (oldest forgotten first): a commit is
# submitted right after it is encrypted, so a small window is plenty.
_REMEMBERED = 1024
_ORIGINAL_ATTR = "__devnet_original__"
# get_encrypted_commit_v2's parameters in order, to read positional calls too.
_PARAMETERS = (
    "uids", "weights", "version_key", "last_epoch_block", "pending_epoch_at",
    "subnet_epoch_index", "tempo", "blocks_since_last_step", "current_block",
    "subnet_reveal_period_epochs", "block_time", "hotkey",
)


@dataclass(frozen=True)
class CommitPlaintext:
    """What a commit encrypts (subtensor's ``WeightsTlockPayload``): the committer's hotkey
    public key, the u16 uids and values, the version key."""

    uids: tuple[int, ...]
    values: tuple[int, ...]
    version_key: int
    hotkey: bytes


_lock = threading.Lock()
_seen: OrderedDict[bytes, CommitPlaintext] = OrderedDict()


def _wrap(original: Callable[..., Any]) -> Callable[..., Any]:
    def get_encrypted_commit_v2(*args: Any, **kwargs: Any) -> Any:
        commit, reveal_round = original(*args, **kwargs)
        given = dict(zip(_PARAMETERS, args)) | kwargs
        plaintext = CommitPlaintext(
            uids=tuple(int(u) for u in given["uids"]),
            values=tuple(int(v) for v in given["weights"]),
            version_key=int(given["version_key"]),
            hotkey=bytes(given["hotkey"]),
        )
        with _lock:
            _seen[bytes(commit)] = plaintext
            while len(_seen) > _REMEMBERED:
                _seen.popitem(last=False)
        return commit, reveal_round

    get_encrypted_commit_v2.__doc__ = original.__doc__
    setattr(get_encrypted_commit_v2, _ORIGINAL_ATTR, original)
    return get_encrypted_commit_v2


def install() -> None:
    """Wrap ``bittensor_core.get_encrypted_commit_v2`` in this process (idempotent)."""
    with _lock:
        current = bittensor_core.get_encrypted_commit_v2
        if not hasattr(current, _ORIGINAL_ATTR):
            bittensor_core.get_encrypted_commit_v2 = _wrap(current)


def installed() -> bool:
    """Whether :func:`install` has run in this process."""
    return hasattr(bittensor_core.get_encrypted_commit_v2, _ORIGINAL_ATTR)


def recall(ciphertext: bytes) -> CommitPlaintext | None:
    """The plaintext this process encrypted into ``ciphertext``, or None if it never did."""
    with _lock:
        return _seen.get(bytes(ciphertext))
