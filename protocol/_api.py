"""The validator's verified-inference API: what an outside client sends and gets back.

A client ``POST``\\ s an :class:`InferRequest` to :data:`ROUTE_INFER` on a validator
(authenticated with ``btauth/1`` headers or an API key: docs/verified_inference_api.md);
the validator has a miner prove it, verifies the proof against the client's inputs and
answers an :class:`InferResponse` carrying the outputs, the miner's hotkey and the
signed receipt. Every refusal is an :class:`ApiError` whose :class:`ApiErrorCode` has
exactly one HTTP status. The validator's own request to the miner is an ordinary
``ProofRequest``: nothing of this module goes to a miner.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Final

from pydantic import BaseModel, ConfigDict, Field, Strict, StrictInt

from ._fields import CircuitId, FiniteFloat, Message, RequestId
from ._limits import MAX_DEADLINE_S, MAX_INPUTS, MAX_OUTPUTS

__all__ = [
    "ROUTE_INFER",
    "MAX_API_REQUEST_BYTES",
    "MAX_API_ATTEMPTS",
    "InferRequest",
    "InferResponse",
    "ApiAttempt",
    "ApiErrorCode",
    "ApiError",
]

ROUTE_INFER: Final = "/v1/infer"

MAX_API_REQUEST_BYTES: Final = 256 * 1024
"""An infer request's body: the inputs of a ``ProofRequest`` plus a small envelope."""

MAX_API_ATTEMPTS: Final = 16
"""Most miners one answer lists as tried."""

_Hotkey = Annotated[str, Strict(), Field(pattern=r"^[1-9A-HJ-NP-Za-km-z]{46,48}$")]


class _Message(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class InferRequest(_Message):
    """Client -> validator: run ``circuit_id`` on ``inputs`` (flattened, row-major).

    ``deadline_s`` is how many seconds the client waits, from when the validator reads
    the request; absent, the validator's default for the circuit (twice its timeout,
    at most :data:`MAX_DEADLINE_S`).
    """

    circuit_id: CircuitId
    inputs: tuple[FiniteFloat, ...] = Field(min_length=1, max_length=MAX_INPUTS)
    deadline_s: Annotated[float, Strict(), Field(gt=0.0, le=MAX_DEADLINE_S, allow_inf_nan=False)] | None = None


class InferResponse(_Message):
    """Validator -> client: a verified answer.

    ``outputs`` are the proof's (decoded by the circuit), ``miner_hotkey`` proved them,
    ``attempts`` counts the miners asked (this one included). ``receipt`` is the signed
    receipt file exactly as ``python -m receipts verify`` reads it (canonical JSON and a
    newline): write the string to a file unchanged.
    """

    request_id: RequestId
    circuit_id: CircuitId
    outputs: tuple[FiniteFloat, ...] = Field(max_length=MAX_OUTPUTS)
    miner_hotkey: _Hotkey
    attempts: Annotated[StrictInt, Field(ge=1, le=MAX_API_ATTEMPTS)]
    receipt: Annotated[str, Strict()]


class ApiAttempt(_Message):
    """One miner tried for a request that got no verified answer: who, and why it failed.

    ``outcome`` is a ``neurons.validating.challenge.Outcome`` value (``no_response``,
    ``rejected``, ...), ``reason`` one line for people."""

    uid: Annotated[StrictInt, Field(ge=0)]
    hotkey: _Hotkey
    outcome: Annotated[str, Strict(), Field(max_length=32)]
    reason: Message


class ApiErrorCode(StrEnum):
    """Why the API refused or could not answer; each code has exactly one HTTP status."""

    UNAUTHENTICATED = "unauthenticated"  # 401: no credentials, or they do not check out
    FORBIDDEN = "forbidden"  # 403: authentic, but not on the allowlist
    NOT_FOUND = "not_found"  # 404: no such route
    UNKNOWN_CIRCUIT = "unknown_circuit"  # 404: this validator has not loaded the circuit
    METHOD_NOT_ALLOWED = "method_not_allowed"  # 405
    TIMEOUT = "timeout"  # 408: the body did not arrive in time
    TOO_LARGE = "too_large"  # 413: body over the byte limit
    INVALID_REQUEST = "invalid_request"  # 422: not a valid InferRequest
    INVALID_INPUTS = "invalid_inputs"  # 422: inputs that do not fit the circuit's input spec
    RATE_LIMITED = "rate_limited"  # 429: too many requests, or too many at once (Retry-After)
    NO_MINER = "no_miner"  # 503: no verified answer within the deadline (attempts say why)
    UNAVAILABLE = "unavailable"  # 503: the validator cannot ask miners now (no metagraph, no permit)
    INTERNAL = "internal"  # 500: anything else; the server stays up

    @property
    def http_status(self) -> int:
        """The HTTP status that always goes with this code."""
        return _HTTP_STATUS[self]


_HTTP_STATUS: dict[ApiErrorCode, int] = {
    ApiErrorCode.UNAUTHENTICATED: 401,
    ApiErrorCode.FORBIDDEN: 403,
    ApiErrorCode.NOT_FOUND: 404,
    ApiErrorCode.UNKNOWN_CIRCUIT: 404,
    ApiErrorCode.METHOD_NOT_ALLOWED: 405,
    ApiErrorCode.TIMEOUT: 408,
    ApiErrorCode.TOO_LARGE: 413,
    ApiErrorCode.INVALID_REQUEST: 422,
    ApiErrorCode.INVALID_INPUTS: 422,
    ApiErrorCode.RATE_LIMITED: 429,
    ApiErrorCode.NO_MINER: 503,
    ApiErrorCode.UNAVAILABLE: 503,
    ApiErrorCode.INTERNAL: 500,
}


class ApiError(_Message):
    """The body of every non-200 answer of the API; ``attempts`` only with ``no_miner``."""

    code: ApiErrorCode
    message: Annotated[str, Strict(), Field(max_length=4096)] = ""
    attempts: tuple[ApiAttempt, ...] = Field(default=(), max_length=MAX_API_ATTEMPTS)
