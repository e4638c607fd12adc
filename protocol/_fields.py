"""Constrained field types shared by the messages.

Each alias is a complete rule for one kind of value on the wire: the models
only combine them. Scalars are strict (no "1.5" -> 1.5, no true -> 1);
hex is lowercase everywhere, so one value has exactly one spelling.
"""

from __future__ import annotations

import base64
import binascii
import uuid
from typing import Annotated, Any

from pydantic import Field, PlainSerializer, PlainValidator, Strict, WithJsonSchema

from ._limits import MAX_MESSAGE_CHARS, MAX_PROOF_BYTES

__all__ = [
    "CircuitId",
    "RequestId",
    "Felt",
    "FiniteFloat",
    "Seconds",
    "ProofBytes",
    "Message",
    "new_request_id",
]

CircuitId = Annotated[str, Strict(), Field(pattern=r"^[0-9a-f]{64}$")]
"""A circuit's id: 64 lowercase hex characters (a sha256)."""

RequestId = Annotated[str, Strict(), Field(pattern=r"^[0-9a-f]{16,64}$")]
"""A request id chosen by the validator: 16 to 64 lowercase hex characters."""

Felt = Annotated[str, Strict(), Field(pattern=r"^[0-9a-f]{64}$")]
"""A field element as ezkl writes it: 32 bytes little-endian, lowercase hex, no 0x."""

FiniteFloat = Annotated[float, Strict(), Field(allow_inf_nan=False)]
"""A float that is neither NaN nor infinite; ints are accepted, strings and bools are not."""

Seconds = Annotated[float, Strict(), Field(ge=0.0, allow_inf_nan=False)]
"""A non-negative, finite duration in seconds."""

Message = Annotated[str, Strict(), Field(max_length=MAX_MESSAGE_CHARS)]
"""Free human-readable text, bounded."""

_MAX_B64_CHARS = 4 * ((MAX_PROOF_BYTES + 2) // 3)


def _decode_proof(value: Any) -> bytes:
    """Accept raw bytes (Python side) or strict standard base64 text (wire side)."""
    if isinstance(value, bytes):
        raw = value
    elif isinstance(value, str):
        if len(value) > _MAX_B64_CHARS:
            raise ValueError(f"proof exceeds {MAX_PROOF_BYTES} bytes")
        try:
            raw = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise ValueError("proof is not valid standard base64") from None
    else:
        raise ValueError("proof must be a base64 string")
    if not raw:
        raise ValueError("proof is empty")
    if len(raw) > MAX_PROOF_BYTES:
        raise ValueError(f"proof exceeds {MAX_PROOF_BYTES} bytes")
    return raw


def _encode_proof(value: bytes) -> str:
    return base64.b64encode(value).decode("ascii")


ProofBytes = Annotated[
    bytes,
    PlainValidator(_decode_proof),
    PlainSerializer(_encode_proof, return_type=str),
    WithJsonSchema(
        {"type": "string", "contentEncoding": "base64", "maxLength": _MAX_B64_CHARS}
    ),
]
"""Raw proof bytes; travels as standard base64 (with padding, no newlines)."""


def new_request_id() -> str:
    """A fresh random request id (uuid4 as 32 hex characters)."""
    return uuid.uuid4().hex
