"""The messages on the wire: one pydantic model per JSON body.

All models are frozen, refuse unknown fields and bound every collection, so a
parsed message is safe to hand to code that trusts its shape. They say nothing
about authentication (that is the ``btauth/1`` headers) and nothing about
whether a proof is valid (that is the verifier's job).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StrictInt, model_validator

from ._fields import CircuitId, Felt, FiniteFloat, Message, ProofBytes, RequestId, Seconds
from ._limits import (
    MAX_CIRCUITS,
    MAX_FELTS,
    MAX_INPUTS,
    MAX_INSTANCE_GROUPS,
    MAX_OUTPUTS,
    PROTOCOL_VERSION,
)

__all__ = ["ProofRequest", "ProofResponse", "Capabilities", "ErrorCode", "ErrorResponse"]

_Version = Annotated[StrictInt, Field(ge=1, le=65535)]


class _Message(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ProofRequest(_Message):
    """Validator -> miner: run ``circuit_id`` on ``inputs`` and prove it before ``deadline``.

    ``inputs`` is the model input flattened in row-major order. ``deadline`` is
    an absolute unix time in seconds; a miner refuses work it cannot finish by
    then, and a deadline more than :data:`MAX_DEADLINE_S` ahead of its clock.
    ``protocol_version`` is checked by the receiver, not by this model,
    so a peer on another version gets a precise error instead of a shape error.
    """

    protocol_version: _Version = PROTOCOL_VERSION
    request_id: RequestId
    circuit_id: CircuitId
    inputs: tuple[FiniteFloat, ...] = Field(min_length=1, max_length=MAX_INPUTS)
    deadline: Annotated[FiniteFloat, Field(gt=0.0)]


class ProofResponse(_Message):
    """Miner -> validator: the outputs of a request and the proof of them.

    ``proof`` is the raw proof bytes (base64 on the wire); ``instances`` are
    the public values as ezkl writes them (hex field elements, one group per tensor),
    at most :data:`MAX_FELTS` in all groups together. ``queue_s`` and
    ``prove_s`` are the miner's own account of its time (waiting for a
    worker, then witness generation plus proving); a validator measures
    response time itself and may ignore them.
    """

    protocol_version: _Version = PROTOCOL_VERSION
    request_id: RequestId
    circuit_id: CircuitId
    outputs: tuple[FiniteFloat, ...] = Field(max_length=MAX_OUTPUTS)
    proof: ProofBytes
    instances: tuple[tuple[Felt, ...], ...] = Field(min_length=1, max_length=MAX_INSTANCE_GROUPS)
    queue_s: Seconds
    prove_s: Seconds

    @model_validator(mode="after")
    def _bounded_felts(self) -> ProofResponse:
        total = sum(len(group) for group in self.instances)
        if total > MAX_FELTS:
            raise ValueError(f"instances hold {total} field elements, at most {MAX_FELTS} allowed")
        return self


class Capabilities(_Message):
    """Miner -> validator: what this miner serves and how much work it takes at once.

    ``max_concurrent`` requests are proved in parallel and up to ``max_queue``
    more wait; beyond that the miner answers ``busy`` at once.
    """

    protocol_version: _Version = PROTOCOL_VERSION
    circuits: tuple[CircuitId, ...] = Field(max_length=MAX_CIRCUITS)
    max_concurrent: Annotated[StrictInt, Field(ge=1, le=1024)]
    max_queue: Annotated[StrictInt, Field(ge=0, le=65536)]

    @model_validator(mode="after")
    def _unique_circuits(self) -> Capabilities:
        if len(set(self.circuits)) != len(self.circuits):
            raise ValueError("circuits must not repeat")
        return self


class ErrorCode(StrEnum):
    """Why a request was refused; each code has exactly one HTTP status."""

    TOO_LARGE = "too_large"  # 413: body over the byte limit, refused unread
    UNAUTHENTICATED = "unauthenticated"  # 401: btauth/1 signature missing or invalid
    FORBIDDEN = "forbidden"  # 403: caller not registered, no permit, or stake too low
    UNAVAILABLE = "unavailable"  # 503: the miner cannot check callers right now
    INVALID_REQUEST = "invalid_request"  # 422: body is not a valid message
    UNSUPPORTED_VERSION = "unsupported_version"  # 422: another protocol version
    INVALID_INPUTS = "invalid_inputs"  # 422: inputs of the wrong length or outside the circuit's range
    UNKNOWN_CIRCUIT = "unknown_circuit"  # 404: this miner does not serve the circuit
    NOT_FOUND = "not_found"  # 404: no such route
    METHOD_NOT_ALLOWED = "method_not_allowed"  # 405
    DEADLINE_EXCEEDED = "deadline_exceeded"  # 408: deadline passed while queued, or the proof was abandoned at it
    BUSY = "busy"  # 503: queue full, or the deadline cannot be met
    PROVING_FAILED = "proving_failed"  # 500: the prover failed on inputs that fit the circuit
    INTERNAL = "internal"  # 500: anything else; the server stays up

    @property
    def http_status(self) -> int:
        """The HTTP status that always goes with this code."""
        return _HTTP_STATUS[self]


_HTTP_STATUS: dict[ErrorCode, int] = {
    ErrorCode.TOO_LARGE: 413,
    ErrorCode.UNAUTHENTICATED: 401,
    ErrorCode.FORBIDDEN: 403,
    ErrorCode.UNAVAILABLE: 503,
    ErrorCode.INVALID_REQUEST: 422,
    ErrorCode.UNSUPPORTED_VERSION: 422,
    ErrorCode.INVALID_INPUTS: 422,
    ErrorCode.UNKNOWN_CIRCUIT: 404,
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.METHOD_NOT_ALLOWED: 405,
    ErrorCode.DEADLINE_EXCEEDED: 408,
    ErrorCode.BUSY: 503,
    ErrorCode.PROVING_FAILED: 500,
    ErrorCode.INTERNAL: 500,
}


class ErrorResponse(_Message):
    """The body of every non-200 answer."""

    code: ErrorCode
    message: Message = ""
