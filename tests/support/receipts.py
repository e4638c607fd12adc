"""Genuine receipts, made the way the validator makes them.

The real miner app (``build_miner_app``) answers with a real EZKL proof, the real
``MinerClient`` asks, ``challenge_miner`` verifies with the real verifier and keeps
the receipt in a real ``ReceiptFolder``: nothing in a receipt made here is faked.
The miner's "prover" hands back a proof made once per session (the ``real_proof``
fixture) and the validator's sampler draws exactly that proof's inputs, so no test
waits for a proof of its own.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Sequence

import bittensor as bt
import httpx
import numpy as np

from execution_layer import Circuit, Proof, ProveResult, Verdict
from neurons.mining.app import build_miner_app
from neurons.validating.challenge import ResponseRecord, challenge_miner
from neurons.validating.client import MinerClient
from neurons.validating.receipts import ReceiptFolder
from neurons.validating.replay_guard import ReplayGuard
from neurons.validating.verifier_pool import RegistryVerifier
from protocol import decode_receipt, encode_receipt, receipt_signing_payload
from tests.support.cast import MIN_STAKE, NETUID, Cast
from tests.support.chain import neuron, serving
from tests.support.network import RoutingTransport
from tests.support.wallets import hotkey_of

__all__ = ["AXON", "challenge_keeping_receipts", "receipt_folder", "canonical", "tampered", "resigned"]

AXON = ("10.0.0.7", 8091)


def receipt_folder(cast: Cast, folder: Path, *, max_bytes: int = 1 << 30) -> ReceiptFolder:
    """A receipt folder signing as ``cast.validator``."""
    return ReceiptFolder(folder, max_bytes=max_bytes, signer=bt.resolve_signer(cast.validator, role="hotkey"))


async def challenge_keeping_receipts(
    cast: Cast,
    circuit: Circuit,
    verifier: RegistryVerifier,
    proved: tuple[Any, ProveResult],
    receipts: ReceiptFolder | None,
    *,
    clock: Callable[[], float] = time.time,
) -> ResponseRecord:
    """One real challenge of ``cast.miner`` on ``circuit``, answered with ``proved``'s proof;
    ``clock`` is both sides' (a shifted one makes a receipt of another time)."""
    inputs, result = proved

    async def prove(circuit_id: str, sent: Sequence[float]) -> ProveResult:
        return result

    async def verify(circuit_id: str, proof: Proof, expected: Sequence[float]) -> Verdict:
        return verifier.verify(circuit_id, proof, expected)

    app = build_miner_app(
        wallet=cast.miner, prove=prove, circuits={circuit.id}, metagraph=cast.metagraph,
        netuid=NETUID, min_stake=MIN_STAKE, max_queue=2, clock=clock,
    )
    transport = RoutingTransport({AXON: httpx.ASGITransport(app)})
    async with MinerClient(cast.validator, transport=transport, clock=clock) as client:
        return await challenge_miner(
            neuron=serving(neuron(0, hotkey_of(cast.miner)), AXON), circuit=circuit, client=client,
            verify=verify, guard=ReplayGuard(), sample=lambda c, rng: np.asarray(inputs),
            rng=np.random.default_rng(), receipts=receipts, clock=clock,
        )


def canonical(doc: Any) -> bytes:
    """``doc`` spelled as a receipt file is (so only its values differ from the original)."""
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode() + b"\n"


_DIGITS = "0123456789"
_HEX = "abcdef"


def _other_char(c: str) -> str:
    """Another character of the same kind, so the value keeps its shape (hex stays hex,
    base64 and base58 stay valid characters): a one-byte change that still parses."""
    for kind in (_DIGITS, _HEX, "ABCDEFGH", "ijkmnopq"):
        if c in kind:
            return kind[(kind.index(c) + 1) % len(kind)]
    return "A" if c != "A" else "B"


def _flip(value: Any) -> Any:
    if isinstance(value, bool):
        raise TypeError("no booleans in a receipt")
    if isinstance(value, str):
        at = len(value) // 2  # the middle: clear of "0x", base64 padding and its unused bits
        return value[:at] + _other_char(value[at]) + value[at + 1:]
    if isinstance(value, int):
        return value + 1 if value % 10 != 9 else value - 1  # the last digit, one byte
    if isinstance(value, float):
        # The first digit after the point: a later one may be below float precision (the
        # same value back) or below the circuit's input quantisation (the same proof).
        text = repr(value)
        at = text.index(".") + 1
        return float(text[:at] + _other_char(text[at]) + text[at + 1:])
    raise TypeError(f"cannot flip a {type(value).__name__}")


def tampered(receipt: bytes, path: tuple[str | int, ...]) -> bytes:
    """``receipt`` with one character of the value at ``path`` changed (still canonical)."""
    doc = json.loads(receipt)
    parent = doc
    for key in path[:-1]:
        parent = parent[key]
    parent[path[-1]] = _flip(parent[path[-1]])
    changed = canonical(doc)
    assert changed != receipt, f"tampering with {path} changed nothing"
    return changed


def resigned(receipt: bytes, signer: bt.Signer, **changes: Any) -> bytes:
    """``receipt`` with ``changes`` to its fields, signed afresh by ``signer`` as validator:
    what a dishonest validator could publish."""
    parsed = decode_receipt(receipt).model_copy(update=changes)
    parsed = parsed.model_copy(update={"validator": parsed.validator.model_copy(update={"hotkey": signer.ss58_address})})
    signature = bytes(signer.sign(receipt_signing_payload(parsed)))
    return encode_receipt(parsed.model_copy(update={"validator_signature": "0x" + signature.hex()}))
