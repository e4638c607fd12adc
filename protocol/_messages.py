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

__all__ = ["ProofRequest", "ProofResponse", "Lane", "Capabilities", "ErrorCode", "ErrorResponse"]

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


class Lane(_Message):
    """One of a miner's queues: the circuits it proves, how many at once and how many wait.

    A lane's proofs never wait for another lane's: a slow circuit in its own lane holds
    only that lane's workers.
    """

    circuits: tuple[CircuitId, ...] = Field(min_length=1, max_length=MAX_CIRCUITS)
    max_concurrent: Annotated[StrictInt, Field(ge=1, le=1024)]
    max_queue: Annotated[StrictInt, Field(ge=0, le=65536)]


class Capabilities(_Message):
    """Miner -> validator: what this miner serves and how much work it takes at once.

    ``lanes`` split ``circuits`` among the miner's queues: every served circuit is in
    exactly one lane, whose ``max_concurrent`` requests are proved in parallel while up
    to its ``max_queue`` more wait; beyond that the miner answers ``busy`` at once. The
    top-level ``max_concurrent`` and ``max_queue`` are the sums over the lanes. A body
    without ``lanes`` (protocol version 1, which had none) parses with ``lanes`` empty,
    so a receiver can tell an older miner by its ``protocol_version`` instead of failing
    on the shape; version 2 requires them whenever circuits are served.
    """

    protocol_version: _Version = PROTOCOL_VERSION
    circuits: tuple[CircuitId, ...] = Field(max_length=MAX_CIRCUITS)
    max_concurrent: Annotated[StrictInt, Field(ge=1, le=1024)]
    max_queue: Annotated[StrictInt, Field(ge=0, le=65536)]
    lanes: tuple[Lane, ...] = Field(default=(), max_length=MAX_CIRCUITS)

    @model_validator(mode="after")
    def _unique_circuits(self) -> Capabilities:
        if len(set(self.circuits)) != len(self.circuits):
            raise ValueError("circuits must not repeat")
        if not self.lanes:
            if self.circuits and self.protocol_version >= 2:
                raise ValueError("lanes are required from protocol version 2 on")
            return self
        in_lanes = [c for lane in self.lanes for c in lane.circuits]
        if len(in_lanes) != len(set(in_lanes)) or set(in_lanes) != set(self.circuits):
            raise ValueError("lanes must hold every served circuit exactly once")
        if sum(lane.max_concurrent for lane in self.lanes) != self.max_concurrent:
            raise ValueError("max_concurrent must be the sum of the lanes'")
        if sum(lane.max_queue for lane in self.lanes) != self.max_queue:
            raise ValueError("max_queue must be the sum of the lanes'")
        return self

    def lane_of(self, circuit_id: str) -> Lane | None:
        """The lane serving ``circuit_id``; None if it is not served, or for a body
        without lanes."""
        for lane in self.lanes:
            if circuit_id in lane.circuits:
                return lane
        return None


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
