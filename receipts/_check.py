"""Checking one receipt offline: what must hold for it to be verified.

Checks (each failure is a :class:`Failure` naming its check; all that can run
do run, so a tampered receipt says everything that is wrong with it):

1. ``receipt`` — the bytes are a receipt, within the size limit, in its one
   canonical spelling (``protocol.decode_receipt``). Nothing else runs without it.
2. ``validator signature`` — ``validator.hotkey`` signed
   ``protocol.receipt_signing_payload`` (every field but the signature).
3. ``miner signature`` — ``miner.hotkey`` signed exactly the ``response`` bytes as a
   ``btauth/1`` response to this validator (receiver) and to this request
   (``protocol.response_target(route, request_nonce)``). Freshness does not
   apply offline (a receipt is read long after): the signature is checked as of
   its own nonce's time.
4. ``timestamps`` — answered no earlier than requested, requested before the deadline.
5. ``response`` — the response bytes decode to a ``ProofResponse`` of this protocol
   version answering the request's id and circuit.
6. ``circuit`` — the receipt's ``circuit_id`` is the request's, and the circuit is
   known to ``circuits`` (the model folder). Without it the proof is not checked.
   ``pin`` — only when given an on-chain pin (``--network``): the circuit is in it, with
   the model folder's vk sha256; else "not pinned" and why (none published counts too).
7. ``proof`` / ``instances`` — the receipt's copies equal the signed response's;
   ``proof`` also when the SNARK, checked with ``execution_layer.verify`` against
   the *request's* inputs (input binding included), is rejected.
8. ``outputs`` — the receipt's outputs and the response's equal the outputs
   decoded from the proof, exactly.

What this does not check: that the validator or the miner were registered on a
subnet, or when — that needs a chain (the pin, given one, is read as of now, not as of the receipt). A verdict says "this validator vouches,
and this miner signed, and the proof holds", nothing more.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from bittensor import http_auth, sp_core
from bittensor.wallets import parse_crypto_type

from execution_layer import Circuit, CircuitNotFound, Proof, Verdict, verify
from protocol import (
    MAX_RESPONSE_BYTES,
    PROTOCOL_VERSION,
    RESPONSE_METHOD,
    ProofResponse,
    ProtocolError,
    Receipt,
    decode,
    decode_receipt,
    receipt_signing_payload,
    response_target,
)
from receipts._pin import OnChainPin

__all__ = ["CHECKS", "Failure", "ReceiptVerdict", "Circuits", "check_receipt"]

CHECKS = (
    "receipt", "validator signature", "miner signature", "timestamps", "response", "circuit", "pin",
    "proof", "instances", "outputs",
)
"""Every check's name, in the order they run."""

_VerifyFn = Callable[[Circuit, Proof, Sequence[float]], Verdict]


class Circuits(Protocol):
    """Where circuits are found by id; ``execution_layer.CircuitRegistry`` is the real one."""

    def get(self, circuit_id: str) -> Circuit:
        """The circuit with this id; raises ``CircuitNotFound`` when there is none."""
        ...


@dataclass(frozen=True)
class Failure:
    """One check that failed: ``check`` is one of :data:`CHECKS`, ``reason`` one line for people."""

    check: str
    reason: str


@dataclass(frozen=True)
class ReceiptVerdict:
    """The outcome of checking a receipt.

    ``verified`` is exactly "no failures". ``receipt`` is the parsed receipt
    (None when the bytes are not one); ``outputs`` the outputs decoded from the
    proof when the SNARK verified (also on a rejection for other reasons);
    ``circuit_name`` the circuit's name when it was found.
    """

    failures: tuple[Failure, ...]
    receipt: Receipt | None
    outputs: tuple[float, ...] | None
    circuit_name: str | None

    @property
    def verified(self) -> bool:
        return not self.failures

    def failed(self, check: str) -> bool:
        """Whether ``check`` is among the failures."""
        return any(f.check == check for f in self.failures)


class _NoReplayStore:
    """Offline there is no replay to stop: the receipt is the one place the signature is used."""

    retention = None

    def check_and_store(self, hotkey_ss58: str, nonce_ns: int) -> bool:
        return True


def check_receipt(
    data: bytes, circuits: Circuits, *, verify_proof: _VerifyFn = verify, pin: OnChainPin | None = None
) -> ReceiptVerdict:
    """Check the receipt file bytes ``data``; see the module docstring for the checks.

    Never raises for anything in ``data``: every problem is a failure.
    ``verify_proof`` is ``execution_layer.verify`` (injectable for tests); ``pin`` the on-chain
    pin to check the circuit against (None: no such check).
    """
    try:
        receipt = decode_receipt(data)
    except ProtocolError as error:
        return ReceiptVerdict((Failure("receipt", str(error)),), None, None, None)
    failures: list[Failure] = []

    def fail(check: str, reason: str) -> None:
        failures.append(Failure(check, reason))

    reason = _validator_signature(receipt)
    if reason:
        fail("validator signature", reason)
    reason = _miner_signature(receipt)
    if reason:
        fail("miner signature", reason)
    if receipt.answered_at < receipt.requested_at:
        fail("timestamps", f"answered at {receipt.answered_at!r}, before the request at {receipt.requested_at!r}")
    if receipt.request.deadline <= receipt.requested_at:
        fail("timestamps", f"requested at {receipt.requested_at!r}, not before its deadline {receipt.request.deadline!r}")

    response = _response(receipt, fail)
    if response is not None:
        if receipt.proof != response.proof:
            fail("proof", "the receipt's proof differs from the one in the signed response")
        if receipt.instances != response.instances:
            fail("instances", "the receipt's instances differ from those in the signed response")

    circuit = None
    if receipt.circuit_id != receipt.request.circuit_id:
        fail("circuit", f"receipt names circuit {receipt.circuit_id}, the request {receipt.request.circuit_id}")
    else:
        try:
            circuit = circuits.get(receipt.circuit_id)
        except CircuitNotFound:
            fail("circuit", f"circuit {receipt.circuit_id} is not among the model folders given (--models)")

    if pin is not None:
        reason = _pin_reason(receipt.circuit_id, circuit, pin)
        if reason:
            fail("pin", reason)

    proved: tuple[float, ...] | None = None
    if circuit is not None:
        proof = Proof(circuit_id=receipt.circuit_id, instances=receipt.instances, proof=receipt.proof)
        verdict = verify_proof(circuit, proof, receipt.request.inputs)
        if verdict.accepted:
            proved = verdict.outputs
        else:
            fail("proof", f"the proof does not verify against the request's inputs: {verdict.reason}")
    if proved is not None:
        for whose, claimed in (("receipt", receipt.outputs), ("response", response.outputs if response else None)):
            if claimed is not None and tuple(claimed) != tuple(proved):
                fail("outputs", f"the {whose}'s outputs are not the proof's ({_first_difference(claimed, proved)})")
    return ReceiptVerdict(tuple(failures), receipt, proved, circuit.name if circuit is not None else None)


def _pin_reason(circuit_id: str, circuit: Circuit | None, pin: OnChainPin) -> str | None:
    if pin.pins is None:
        return f"not pinned: {pin.why}"
    entry = pin.pins.find(circuit_id)
    if entry is None:
        return f"not pinned: circuit {circuit_id} is not in {pin.where} (digest {pin.pins.digest[:16]})"
    if circuit is not None and entry.vk_sha256 != circuit.vk_sha256:
        return (f"not pinned: {pin.where} pins circuit {circuit_id} with vk sha256 {entry.vk_sha256}, "
                f"the model folder's is {circuit.vk_sha256}")
    return None


def _validator_signature(receipt: Receipt) -> str | None:
    seal = receipt.validator
    try:
        valid = sp_core.verify(
            receipt_signing_payload(receipt),
            bytes.fromhex(receipt.validator_signature.removeprefix("0x")),
            seal.hotkey,
            parse_crypto_type(seal.scheme),
        )
    except ValueError:
        return f"validator hotkey {seal.hotkey} is not a valid address"
    return None if valid else f"does not verify against the validator's hotkey {seal.hotkey}"


def _miner_signature(receipt: Receipt) -> str | None:
    miner = receipt.miner
    headers = {
        http_auth.HEADER_VERSION: http_auth.VERSION,
        http_auth.HEADER_HOTKEY: miner.hotkey,
        http_auth.HEADER_RECEIVER: receipt.validator.hotkey,
        http_auth.HEADER_NONCE: str(miner.nonce),
        http_auth.HEADER_SIGNATURE: miner.signature,
        http_auth.HEADER_CRYPTO: miner.scheme,
    }
    try:
        http_auth.verify(
            headers,
            receipt.response,
            method=RESPONSE_METHOD,
            path=response_target(receipt.route, receipt.request_nonce),
            self_hotkey_ss58=receipt.validator.hotkey,
            require_receiver=True,
            nonce_store=_NoReplayStore(),
            now_ns=miner.nonce,  # as of the signature's own time: freshness is not an offline question
        )
    except http_auth.AuthError as error:
        return (
            f"{type(error).__name__}: {error} (miner {miner.hotkey}, response bytes, "
            f"validator {receipt.validator.hotkey}, request nonce {receipt.request_nonce})"
        )
    return None


def _response(receipt: Receipt, fail: Callable[[str, str], None]) -> ProofResponse | None:
    try:
        response = decode(ProofResponse, receipt.response, max_bytes=MAX_RESPONSE_BYTES)
    except ProtocolError as error:
        fail("response", f"the response bytes are not a ProofResponse: {error}")
        return None
    if response.protocol_version != PROTOCOL_VERSION:
        fail("response", f"the response is protocol version {response.protocol_version}, not {PROTOCOL_VERSION}")
    if response.request_id != receipt.request.request_id:
        fail("response", f"the response answers request {response.request_id}, not {receipt.request.request_id}")
    if response.circuit_id != receipt.request.circuit_id:
        fail("response", f"the response is for circuit {response.circuit_id}, not {receipt.request.circuit_id}")
    return response


def _first_difference(claimed: Sequence[float], proved: Sequence[float]) -> str:
    if len(claimed) != len(proved):
        return f"{len(claimed)} outputs, the proof has {len(proved)}"
    at = next(i for i, (a, b) in enumerate(zip(claimed, proved)) if a != b)
    return f"first at {at}: {claimed[at]!r}, proved {proved[at]!r}"
