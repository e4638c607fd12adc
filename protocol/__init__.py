"""The wire protocol between validators and miners: the only wire format there is.

Transport is HTTP with JSON bodies; every request and response is signed with
bittensor's ``btauth/1`` headers (see ``neurons.mining.guard`` and ``neurons.validating.signing``).

Routes (all under :data:`PROTOCOL_VERSION` 2; version 1 had no ``Capabilities.lanes``):

- ``POST`` :data:`ROUTE_PROVE` — body :class:`ProofRequest`, answer :class:`ProofResponse`.
- ``GET`` or ``POST`` :data:`ROUTE_CAPABILITIES` — empty body, answer :class:`Capabilities`
  (the circuits served, split into :class:`Lane` queues).
- any refusal — :class:`ErrorResponse` with an :class:`ErrorCode`.

A validator may serve outside clients on :data:`ROUTE_INFER` (its verified-inference API,
off by default): :class:`InferRequest` in, :class:`InferResponse` or :class:`ApiError` out
(``protocol._api``). Miners never see these: the validator asks them with ``ProofRequest``.

A validator may keep a :class:`Receipt` of each verified answer: a signed,
self-contained document for outside clients (``protocol._receipts``, checked by
``python -m receipts``).

The subnet owner pins the circuits the subnet runs in an on-chain commitment: a
:class:`PinSet` (``protocol._pins``: circuit ids and vk hashes, ``encode_pin`` /
``decode_pin``).

Responses are signed by the miner with method :data:`RESPONSE_METHOD` and the
target :func:`response_target` (the route plus the request's nonce), receiver
the caller's hotkey, so a response cannot be replayed for another request.
"""

from ._api import (
    MAX_API_ATTEMPTS,
    MAX_API_REQUEST_BYTES,
    ROUTE_INFER,
    ApiAttempt,
    ApiError,
    ApiErrorCode,
    InferRequest,
    InferResponse,
)
from ._codec import InvalidMessage, MessageTooLarge, ProtocolError, decode, encode
from ._fields import CircuitId, Felt, FiniteFloat, ProofBytes, RequestId, new_request_id
from ._limits import (
    MAX_CIRCUITS,
    MAX_DEADLINE_S,
    MAX_FELTS,
    MAX_INPUTS,
    MAX_INSTANCE_GROUPS,
    MAX_MESSAGE_CHARS,
    MAX_OUTPUTS,
    MAX_PROOF_BYTES,
    MAX_REQUEST_BYTES,
    MAX_RESPONSE_BYTES,
    PROTOCOL_VERSION,
    ROUTE_CAPABILITIES,
    ROUTE_PROVE,
)
from ._messages import Capabilities, ErrorCode, ErrorResponse, Lane, ProofRequest, ProofResponse
from ._receipts import (
    MAX_RECEIPT_BYTES,
    RECEIPT_CONTEXT,
    RECEIPT_VERSION,
    MinerSeal,
    NotCanonical,
    Receipt,
    ValidatorSeal,
    decode_receipt,
    encode_receipt,
    receipt_signing_payload,
)
from ._pins import MAX_PINNED, PIN_FORMAT, PinFormatError, PinnedCircuit, PinSet, decode_pin, encode_pin
from ._signing import RESPONSE_METHOD, response_target

__all__ = [
    "PIN_FORMAT",
    "MAX_PINNED",
    "PinFormatError",
    "PinnedCircuit",
    "PinSet",
    "encode_pin",
    "decode_pin",
    "PROTOCOL_VERSION",
    "ROUTE_PROVE",
    "ROUTE_CAPABILITIES",
    "RESPONSE_METHOD",
    "response_target",
    "MAX_REQUEST_BYTES",
    "MAX_RESPONSE_BYTES",
    "MAX_INPUTS",
    "MAX_OUTPUTS",
    "MAX_PROOF_BYTES",
    "MAX_INSTANCE_GROUPS",
    "MAX_FELTS",
    "MAX_CIRCUITS",
    "MAX_MESSAGE_CHARS",
    "MAX_DEADLINE_S",
    "CircuitId",
    "RequestId",
    "Felt",
    "FiniteFloat",
    "ProofBytes",
    "new_request_id",
    "ProofRequest",
    "ProofResponse",
    "Lane",
    "Capabilities",
    "ErrorCode",
    "ErrorResponse",
    "ProtocolError",
    "MessageTooLarge",
    "InvalidMessage",
    "encode",
    "decode",
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
    "ROUTE_INFER",
    "MAX_API_REQUEST_BYTES",
    "MAX_API_ATTEMPTS",
    "InferRequest",
    "InferResponse",
    "ApiAttempt",
    "ApiErrorCode",
    "ApiError",
]
