"""Receipts: one self-contained, signed JSON document per verified answer.

A receipt lets anyone check, long after the fact and with no chain and no
validator, that a miner proved these outputs for these inputs. It carries:

- ``request``: the validator's :class:`ProofRequest` (circuit id, inputs,
  deadline, request id) as sent, with the ``btauth/1`` ``request_nonce`` it was
  signed with and the ``route`` it went to;
- ``response``: the miner's exact response body bytes (base64) and ``miner``,
  the miner's ``btauth/1`` signature over them (:class:`MinerSeal`); the
  signature binds the bytes to the validator's hotkey as receiver and to
  ``protocol.response_target(route, request_nonce)``;
- ``circuit_id``, ``outputs``, ``proof`` and ``instances`` in the clear (copies of
  what the response holds, so a reader need not decode it; a checker compares them);
- ``requested_at`` / ``answered_at``: the validator's unix seconds when it sent
  the request and when it had read the answer;
- ``validator``: the validator's hotkey and signature scheme, and
  ``validator_signature`` over :func:`receipt_signing_payload` — every field
  but the signature itself.

One receipt has exactly one spelling: the file is :func:`encode_receipt` (the
canonical JSON: keys sorted, no whitespace, ASCII, then one newline), and a
checker refuses any other bytes, so changing any byte of a receipt is detected
even where it would not change a parsed value. What is *checked* is the
standalone verifier's business (``python -m receipts``); this module only says
what a receipt is.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Final, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    Strict,
    StrictInt,
)

from ._codec import InvalidMessage, decode
from ._fields import (
    BASE64_SERIALIZER,
    CircuitId,
    Felt,
    FiniteFloat,
    ProofBytes,
    base64_schema,
    base64_validator,
)
from ._limits import MAX_INSTANCE_GROUPS, MAX_OUTPUTS, MAX_RESPONSE_BYTES
from ._messages import ProofRequest

__all__ = [
    "RECEIPT_VERSION",
    "RECEIPT_CONTEXT",
    "MAX_RECEIPT_BYTES",
    "MinerSeal",
    "ValidatorSeal",
    "Receipt",
    "NotCanonical",
    "receipt_signing_payload",
    "encode_receipt",
    "decode_receipt",
]

RECEIPT_VERSION: Final = 1

RECEIPT_CONTEXT: Final = b"poi-receipt/1\n"
"""Prefixed to the canonical JSON before the validator signs it: a receipt signature
can then never be taken for a ``btauth/1`` signature (whose payload starts ``btauth/1``),
nor the other way round."""

# The response bytes (base64: 4/3) plus a second copy of the proof and instances
# in the clear, plus the request: comfortably under three times the response limit.
MAX_RECEIPT_BYTES: Final = 3 * MAX_RESPONSE_BYTES


_Hotkey = Annotated[str, Strict(), Field(pattern=r"^[1-9A-HJ-NP-Za-km-z]{46,48}$")]
"""An ss58 address (base58 characters; the checksum is the signature check's business)."""

_Signature = Annotated[str, Strict(), Field(pattern=r"^0x[0-9a-f]{128}$")]
"""A 64-byte sr25519 or ed25519 signature: ``0x`` and lowercase hex, as ``btauth/1`` writes it."""

_Scheme = Literal["sr25519", "ed25519"]

_Nonce = Annotated[StrictInt, Field(ge=0)]

_UnixTime = Annotated[float, Strict(), Field(gt=0.0, allow_inf_nan=False)]


_ResponseBytes = Annotated[
    bytes, base64_validator("response", MAX_RESPONSE_BYTES), BASE64_SERIALIZER, base64_schema(MAX_RESPONSE_BYTES)
]


class _Part(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MinerSeal(_Part):
    """The miner's ``btauth/1`` response signature, from its headers.

    ``hotkey`` is ``X-Bittensor-Hotkey``, ``nonce`` ``X-Bittensor-Nonce``,
    ``scheme`` ``X-Bittensor-Crypto`` (absent on the wire means sr25519) and
    ``signature`` ``X-Bittensor-Signature``; the receiver is the receipt's validator.
    """

    hotkey: _Hotkey
    nonce: _Nonce
    scheme: _Scheme = "sr25519"
    signature: _Signature


class ValidatorSeal(_Part):
    """Who signed the receipt, and with which scheme (the signature is ``Receipt.validator_signature``)."""

    hotkey: _Hotkey
    scheme: _Scheme = "sr25519"


class Receipt(_Part):
    """One verified answer; see the module docstring for what each field is."""

    receipt_version: Literal[1] = RECEIPT_VERSION
    circuit_id: CircuitId
    request: ProofRequest
    route: Annotated[str, Strict(), Field(pattern=r"^/[\x21-\x7e]{0,255}$")]
    request_nonce: _Nonce
    requested_at: _UnixTime
    answered_at: _UnixTime
    response: _ResponseBytes
    miner: MinerSeal
    outputs: tuple[FiniteFloat, ...] = Field(max_length=MAX_OUTPUTS)
    proof: ProofBytes
    instances: tuple[tuple[Felt, ...], ...] = Field(min_length=1, max_length=MAX_INSTANCE_GROUPS)
    validator: ValidatorSeal
    validator_signature: _Signature


class NotCanonical(InvalidMessage):
    """The bytes parse as a receipt but are not its one canonical spelling."""


def _canonical(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False).encode()


def receipt_signing_payload(receipt: Receipt) -> bytes:
    """What the validator signs: :data:`RECEIPT_CONTEXT` then the canonical JSON of every
    field but ``validator_signature``. The signature field's value plays no part, so a
    receipt can be built with a placeholder and signed afterwards."""
    body = receipt.model_dump(mode="json", exclude={"validator_signature"})
    return RECEIPT_CONTEXT + _canonical(body)


def encode_receipt(receipt: Receipt) -> bytes:
    """The receipt's one spelling: canonical JSON (sorted keys, no whitespace, ASCII) and ``\\n``."""
    return _canonical(receipt.model_dump(mode="json")) + b"\n"


def decode_receipt(data: bytes) -> Receipt:
    """Parse a receipt file. Checks, in order: at most :data:`MAX_RECEIPT_BYTES`
    (:class:`MessageTooLarge`), JSON and every field rule (:class:`InvalidMessage`
    naming the first bad field), then that ``data`` is exactly :func:`encode_receipt`
    of what was parsed (:class:`NotCanonical`, naming the first differing byte)."""
    receipt = decode(Receipt, data, max_bytes=MAX_RECEIPT_BYTES)
    canonical = encode_receipt(receipt)
    if data != canonical:
        at = next((i for i, (a, b) in enumerate(zip(data, canonical)) if a != b), min(len(data), len(canonical)))
        raise NotCanonical(
            f"receipt bytes are not canonical JSON: they differ from the canonical spelling at byte {at} "
            f"({len(data)} bytes, canonical {len(canonical)}); a receipt has exactly one spelling"
        )
    return receipt
