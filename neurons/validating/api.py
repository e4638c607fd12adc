"""The validator's verified-inference API for outside clients: an ASGI app.

:func:`build_api_app` serves ``POST`` :data:`protocol.ROUTE_INFER` (an ``InferRequest``)
and nothing else. Every answer is JSON: an ``InferResponse`` on 200, an ``ApiError``
otherwise (status per ``ApiErrorCode.http_status``). Checks, in order, cheapest first, so
a caller the API refuses anyway costs it no signature check, no parse and no miner:

1. declared size — ``Content-Length`` over ``max_body_bytes``: 413 ``too_large``;
2. credentials present (``ApiAuthenticator.has_credentials``): 401 ``unauthenticated``
   naming both ways in (an API key, or ``btauth/1`` headers for this validator's hotkey);
3. the body, bounded in bytes (413, the rest unread) and in time (408 ``timeout``);
4. authentication (``neurons.validating.api_auth``): an unknown key or a bad, stale or
   replayed signature 401; an authentic hotkey off the allowlist 403 ``forbidden``;
5. the caller's limits (``neurons.validating.api_limits``): 429 ``rate_limited`` with
   ``Retry-After`` (seconds) for its rate or for too many of its requests at once;
6. the body is an ``InferRequest``: else 422 ``invalid_request``;
7. the circuit is one this validator loaded: else 404 ``unknown_circuit`` naming them;
8. the inputs fit it (``Circuit.check_inputs``: count, finite, inside the input range):
   else 422 ``invalid_inputs`` with the reason;
9. ``answer`` (``neurons.validating.dispatch.Dispatcher.answer``) within the request's
   ``deadline_s`` (default: twice the circuit's timeout, at most ``MAX_DEADLINE_S``): 200
   with the outputs, the miner's hotkey and the receipt; 503 ``no_miner`` listing every
   miner tried and why it failed; 503 ``unavailable`` when the validator cannot ask
   miners now (no metagraph yet, no permit).

Anything that raises is 500 ``internal`` (logged); the server keeps serving. Each answer
is counted in ``api_requests{outcome}``. The app holds no socket: it is served with
``neurons.shared.http_server`` (bounded connections and request heads), on loopback
unless told otherwise (docs/verified_inference_api.md shows a TLS proxy in front).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol

from pydantic import BaseModel
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route

from neurons.shared.signed_requests import request_target
from neurons.validating.api_auth import ApiAuthenticator, ApiAuthError, NotAllowed
from neurons.validating.api_limits import CallerLimits
from neurons.validating.challenge import ChallengeCircuit
from neurons.validating.dispatch import Answered, Unanswered, Unavailable
from protocol import (
    MAX_API_REQUEST_BYTES,
    MAX_DEADLINE_S,
    ROUTE_INFER,
    ApiAttempt,
    ApiError,
    ApiErrorCode,
    InferRequest,
    InferResponse,
    ProtocolError,
    decode,
    encode,
)
from utils.metrics import Metrics

__all__ = ["ApiCircuit", "AnswerFn", "build_api_app", "default_deadline_s", "BODY_TIMEOUT_S"]

log = logging.getLogger(__name__)

BODY_TIMEOUT_S = 10.0
"""Seconds a client has to send its whole body once its head arrived."""


class ApiCircuit(ChallengeCircuit, Protocol):
    """What the API needs of a circuit: a challenge's needs plus the input check
    (``execution_layer.Circuit`` is the real one)."""

    def check_inputs(self, inputs: Any) -> Any:
        """The inputs in the circuit's shape; ``ValueError`` with the reason when they do not fit."""
        ...


AnswerFn = Callable[[ApiCircuit, tuple[float, ...], float], Awaitable["Answered | Unanswered | Unavailable"]]
"""``await answer(circuit, inputs, deadline_s)``: ``Dispatcher.answer``."""


def default_deadline_s(circuit: ChallengeCircuit) -> float:
    """A request's deadline when the client gives none: room for a second miner after a first
    that fails at the circuit's timeout, at most ``MAX_DEADLINE_S``."""
    return min(MAX_DEADLINE_S, 2.0 * circuit.timeout_s)


class _Refused(Exception):
    def __init__(self, code: ApiErrorCode, message: str, *, retry_after_s: int | None = None,
                 attempts: tuple[ApiAttempt, ...] = ()) -> None:
        super().__init__(message)
        self.code = code
        self.retry_after_s = retry_after_s
        self.attempts = attempts


def build_api_app(
    *,
    circuits: Sequence[ApiCircuit],
    answer: AnswerFn,
    auth: ApiAuthenticator,
    limits: CallerLimits,
    metrics: Metrics | None = None,
    max_body_bytes: int = MAX_API_REQUEST_BYTES,
    body_timeout_s: float = BODY_TIMEOUT_S,
) -> Starlette:
    """The API's ASGI app (see the module docstring for the checks and status codes)."""
    by_id = {c.id: c for c in circuits}
    known = ", ".join(f"{c.name} ({c.id})" for c in circuits) or "none"
    counted = metrics if metrics is not None else Metrics()

    def respond(message: BaseModel, *, headers: dict[str, str] | None = None) -> Response:
        status = message.code.http_status if isinstance(message, ApiError) else 200
        counted.api_requests.labels(outcome=message.code.value if isinstance(message, ApiError) else "ok").inc()
        return Response(encode(message), status_code=status, headers=headers, media_type="application/json")

    def refusal(exc: _Refused) -> Response:
        headers = {"Retry-After": str(exc.retry_after_s)} if exc.retry_after_s is not None else None
        return respond(ApiError(code=exc.code, message=str(exc)[:4096], attempts=exc.attempts), headers=headers)

    async def infer(request: Request) -> Response:
        try:
            return respond(await _infer(request))
        except _Refused as exc:
            return refusal(exc)

    async def _infer(request: Request) -> InferResponse:
        _check_declared_size(request, max_body_bytes)
        try:
            auth.has_credentials(request.headers)
        except ApiAuthError as exc:
            raise _Refused(ApiErrorCode.UNAUTHENTICATED, str(exc)) from None
        try:
            async with asyncio.timeout(body_timeout_s):
                body = await _read_capped(request, max_body_bytes)
        except TimeoutError:
            raise _Refused(ApiErrorCode.TIMEOUT, f"body not received within {body_timeout_s:g}s") from None
        try:
            caller = auth.authenticate(method=request.method, path=request_target(request), headers=request.headers, body=body)
        except ApiAuthError as exc:
            code = ApiErrorCode.FORBIDDEN if isinstance(exc, NotAllowed) else ApiErrorCode.UNAUTHENTICATED
            raise _Refused(code, str(exc)) from None
        with limits.admit(caller.id) as refused:
            if refused is not None:
                raise _Refused(ApiErrorCode.RATE_LIMITED, refused.reason, retry_after_s=refused.retry_after_s)
            return await _answer(body, caller.id)

    async def _answer(body: bytes, caller_id: str) -> InferResponse:
        try:
            req = decode(InferRequest, body, max_bytes=max_body_bytes)
        except ProtocolError as exc:
            raise _Refused(ApiErrorCode.INVALID_REQUEST, str(exc)) from None
        circuit = by_id.get(req.circuit_id)
        if circuit is None:
            raise _Refused(
                ApiErrorCode.UNKNOWN_CIRCUIT, f"circuit {req.circuit_id} is not loaded by this validator; it serves: {known}"
            )
        try:
            circuit.check_inputs(req.inputs)
        except ValueError as exc:
            raise _Refused(ApiErrorCode.INVALID_INPUTS, str(exc)) from None
        deadline_s = req.deadline_s if req.deadline_s is not None else default_deadline_s(circuit)
        outcome = await answer(circuit, req.inputs, deadline_s)
        if isinstance(outcome, Unavailable):
            raise _Refused(ApiErrorCode.UNAVAILABLE, outcome.reason)
        if isinstance(outcome, Unanswered):
            attempts = tuple(
                ApiAttempt(uid=a.uid, hotkey=a.hotkey, outcome=a.outcome.value, reason=a.reason[:500])
                for a in outcome.attempts
            )
            raise _Refused(ApiErrorCode.NO_MINER, outcome.reason, attempts=attempts)
        log.info("API %s: %s answered by uid %d %s (%d miner(s) asked)",
                 caller_id, circuit.name, outcome.uid, outcome.hotkey[:10], outcome.attempts)
        return InferResponse(
            request_id=outcome.request_id, circuit_id=circuit.id, outputs=outcome.outputs,
            miner_hotkey=outcome.hotkey, attempts=outcome.attempts, receipt=outcome.receipt.decode("ascii"),
        )

    async def http_error(request: Request, exc: Exception) -> Response:
        status = getattr(exc, "status_code", 500)
        code = {404: ApiErrorCode.NOT_FOUND, 405: ApiErrorCode.METHOD_NOT_ALLOWED}.get(status, ApiErrorCode.INTERNAL)
        return refusal(_Refused(code, f"this API serves POST {ROUTE_INFER}"))

    async def unexpected(request: Request, exc: Exception) -> Response:
        log.exception("API: unhandled error on %s", request.url.path, exc_info=exc)
        return refusal(_Refused(ApiErrorCode.INTERNAL, "internal error"))

    return Starlette(
        routes=[Route(ROUTE_INFER, infer, methods=["POST"])],
        exception_handlers={HTTPException: http_error, Exception: unexpected},
    )


def _check_declared_size(request: Request, max_bytes: int) -> None:
    declared = request.headers.get("content-length")
    if declared is None:
        return
    if not declared.isdigit():
        raise _Refused(ApiErrorCode.TOO_LARGE, "unreadable Content-Length")
    if int(declared) > max_bytes:
        raise _Refused(ApiErrorCode.TOO_LARGE, f"body is {declared} bytes, at most {max_bytes} allowed")


async def _read_capped(request: Request, max_bytes: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > max_bytes:
                raise _Refused(ApiErrorCode.TOO_LARGE, f"body exceeds {max_bytes} bytes")
            chunks.append(chunk)
    except ClientDisconnect:
        raise _Refused(ApiErrorCode.INVALID_REQUEST, "client disconnected before the body was complete") from None
    return b"".join(chunks)
