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
    "BASE64_SERIALIZER",
    "base64_validator",
    "base64_schema",
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

def _b64_chars(max_bytes: int) -> int:
    return 4 * ((max_bytes + 2) // 3)


def base64_validator(what: str, max_bytes: int) -> PlainValidator:
    """Accept 1 to ``max_bytes`` raw bytes (Python side) or strict standard base64 text (wire
    side); errors name ``what``. With :data:`BASE64_SERIALIZER` and :func:`base64_schema` it
    makes a bytes field that travels as base64."""

    def decode(value: Any) -> bytes:
        if isinstance(value, bytes):
            raw = value
        elif isinstance(value, str):
            if len(value) > _b64_chars(max_bytes):
                raise ValueError(f"{what} exceeds {max_bytes} bytes")
            try:
                raw = base64.b64decode(value, validate=True)
            except (binascii.Error, ValueError):
                raise ValueError(f"{what} is not valid standard base64") from None
        else:
            raise ValueError(f"{what} must be a base64 string")
        if not raw:
            raise ValueError(f"{what} is empty")
        if len(raw) > max_bytes:
            raise ValueError(f"{what} exceeds {max_bytes} bytes")
        return raw

    return PlainValidator(decode)


def _encode_base64(value: bytes) -> str:
    return base64.b64encode(value).decode("ascii")


BASE64_SERIALIZER = PlainSerializer(_encode_base64, return_type=str)


def base64_schema(max_bytes: int) -> WithJsonSchema:
    return WithJsonSchema({"type": "string", "contentEncoding": "base64", "maxLength": _b64_chars(max_bytes)})


ProofBytes = Annotated[
    bytes, base64_validator("proof", MAX_PROOF_BYTES), BASE64_SERIALIZER, base64_schema(MAX_PROOF_BYTES)
]
"""Raw proof bytes; travels as standard base64 (with padding, no newlines)."""


def new_request_id() -> str:
    """A fresh random request id (uuid4 as 32 hex characters)."""
    return uuid.uuid4().hex
