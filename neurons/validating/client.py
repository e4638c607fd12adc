"""The validator's side of the wire: signed queries to miners, checked answers.

:class:`MinerClient` never raises for anything a miner does (or fails to do):
every query ends in a :class:`QueryOutcome` whose ``status`` says what
happened. Checks on an answer, in order:

1. transport — ``connect_error`` (no connection), ``timeout`` (no complete
   answer within the time budget);
2. size — more than the limit is not read, and compressed bodies are not
   inflated (``bad_response``);
3. HTTP status — anything but 200 is ``http_error`` (``error`` carries the
   miner's ``ErrorResponse`` when the body is one);
4. signature — the answer must be signed by the hotkey asked, for us, bound to
   this request (``bad_signature``);
5. body — must be the expected message, of this protocol version, for the
   request id and circuit asked (``bad_response``).

``response_s`` is wall time measured here, from just before sending to the
last byte read (or the failure).
"""

from __future__ import annotations

import asyncio
import ipaddress
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Generic, TypeVar

import bittensor as bt
import httpx
from pydantic import BaseModel

from neurons.shared.nonces import NonceClock
from neurons.validating.signing import ResponseUntrusted, sign_request, verify_response
from neurons.validating.transport import MinerTransport
from protocol import (
    MAX_RESPONSE_BYTES,
    PROTOCOL_VERSION,
    ROUTE_CAPABILITIES,
    ROUTE_PROVE,
    Capabilities,
    ErrorResponse,
    ProofRequest,
    ProofResponse,
    ProtocolError,
    decode,
    encode,
)

__all__ = ["QueryStatus", "QueryOutcome", "MinerClient"]

M = TypeVar("M", bound=BaseModel)


class QueryStatus(StrEnum):
    OK = "ok"
    TIMEOUT = "timeout"
    HTTP_ERROR = "http_error"
    BAD_RESPONSE = "bad_response"
    BAD_SIGNATURE = "bad_signature"
    CONNECT_ERROR = "connect_error"


@dataclass(frozen=True)
class QueryOutcome(Generic[M]):
    """What one query to one miner came to.

    ``response`` is set exactly when ``status`` is ``ok``; ``error`` when the
    miner refused with a readable ``ErrorResponse``; ``detail`` is one line
    for logs. ``body_bytes`` counts the response bytes read.

    With ``ok`` they also carry what a receipt needs to prove the answer to a
    third party: ``request_nonce`` (the ``btauth/1`` nonce our request was signed
    with), ``raw`` (the exact response body the signature covers) and
    ``signature`` (the response's ``X-Bittensor-*`` headers, names lowercased).
    """

    status: QueryStatus
    response: M | None
    response_s: float
    body_bytes: int = 0
    http_status: int | None = None
    error: ErrorResponse | None = None
    detail: str = ""
    request_nonce: int | None = None
    raw: bytes = b""
    signature: Mapping[str, str] | None = None

    @property
    def ok(self) -> bool:
        return self.status is QueryStatus.OK


class _Failed(Exception):
    """A query that ended without an answer; what is known of it, for its ``QueryOutcome``."""

    def __init__(
        self,
        status: QueryStatus,
        detail: str,
        *,
        http_status: int | None = None,
        error: ErrorResponse | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.http_status = http_status
        self.error = error


class MinerClient:
    """Signed HTTP queries from one validator wallet.

    ``transport`` is injected in tests (e.g. ``httpx.ASGITransport`` over the
    miner's app); ``timeout`` caps every query's total time, and a proof query
    never waits past its request's deadline. ``clock`` is unix seconds.
    ``max_connections`` bounds the queries in flight at once, so the connections
    they hold (each miner is its own host, so it must be at least the number of
    miners queried at the same time: a round of 256 must not wait on itself).
    Without an injected ``transport``, queries go through
    ``neurons.validating.transport.MinerTransport`` (aiohttp behind httpx's transport interface, one
    connection per query): httpx's own transport cost most of a round's CPU outside
    verification.
    """

    def __init__(
        self,
        wallet: bt.Wallet,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout: float = 30.0,
        max_response_bytes: int = MAX_RESPONSE_BYTES,
        clock: Callable[[], float] = time.time,
        max_connections: int = 512,
    ) -> None:
        self._signer = bt.resolve_signer(wallet, role="hotkey")
        self.hotkey = self._signer.ss58_address
        self.timeout = timeout
        self.max_response_bytes = max_response_bytes
        self._clock = clock
        self._nonces = NonceClock(clock)
        self._in_flight = asyncio.Semaphore(max_connections)
        # The transport alone, without httpx.AsyncClient: its per-request URL merging,
        # cookie jar (~0.7 ms a response) and redirect and auth layers did nothing for us
        # (no cookies, no redirects, no proxies) and cost a third of the client's CPU.
        self._transport = transport if transport is not None else MinerTransport()

    async def prove(
        self,
        axon: tuple[str, int],
        miner_hotkey: str,
        request: ProofRequest,
        *,
        grace_s: float = 0.0,
        budget_s: float | None = None,
    ) -> QueryOutcome[ProofResponse]:
        """Ask the miner at ``axon`` (hotkey ``miner_hotkey``) to prove ``request``.

        The answer is awaited until ``grace_s`` past the request's deadline (capped by
        ``timeout``, and by ``budget_s`` when given), so a caller can tell a late answer
        (``response_s`` past the deadline) from none at all."""
        budget = min(self.timeout, request.deadline - self._clock() + max(grace_s, 0.0))
        if budget_s is not None:
            budget = min(budget, budget_s)
        outcome = await self._query(
            axon, miner_hotkey, "POST", ROUTE_PROVE, encode(request), ProofResponse, budget
        )
        response = outcome.response
        if response is None:
            return outcome
        detail = None
        if response.protocol_version != PROTOCOL_VERSION:
            detail = (
                f"response is protocol version {response.protocol_version}, "
                f"this validator speaks {PROTOCOL_VERSION}"
            )
        elif response.request_id != request.request_id or response.circuit_id != request.circuit_id:
            detail = "response is for another request or circuit"
        if detail is None:
            return outcome
        return QueryOutcome(
            QueryStatus.BAD_RESPONSE,
            None,
            outcome.response_s,
            outcome.body_bytes,
            outcome.http_status,
            detail=detail,
        )

    async def capabilities(
        self, axon: tuple[str, int], miner_hotkey: str, *, budget_s: float = 3.0
    ) -> QueryOutcome[Capabilities]:
        """Ask the miner at ``axon`` what it serves and how much it takes at once (``GET``
        :data:`ROUTE_CAPABILITIES`, empty body), waiting at most ``budget_s`` (capped by
        ``timeout``). Checks as for a proof; an answer of another protocol version is
        ``bad_response`` naming both versions (an older miner: it has no lanes to read)."""
        outcome = await self._query(
            axon, miner_hotkey, "GET", ROUTE_CAPABILITIES, b"", Capabilities, min(self.timeout, budget_s)
        )
        response = outcome.response
        if response is None or response.protocol_version == PROTOCOL_VERSION:
            return outcome
        return QueryOutcome(
            QueryStatus.BAD_RESPONSE, None, outcome.response_s, outcome.body_bytes, outcome.http_status,
            detail=(
                f"capabilities are protocol version {response.protocol_version}, "
                f"this validator speaks {PROTOCOL_VERSION}"
            ),
        )

    async def aclose(self) -> None:
        await self._transport.aclose()

    async def __aenter__(self) -> MinerClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def _query(
        self,
        axon: tuple[str, int],
        miner_hotkey: str,
        method: str,
        route: str,
        body: bytes,
        model: type[M],
        budget: float,
    ) -> QueryOutcome[M]:
        started = time.perf_counter()
        if budget <= 0:
            return QueryOutcome(QueryStatus.TIMEOUT, None, 0.0, detail="deadline already passed")
        nonce = self._nonces()
        headers = sign_request(
            self._signer, method=method, path=route, body=body, receiver=miner_hotkey, nonce_ns=nonce
        )
        read: list[int] = [0]
        try:
            async with asyncio.timeout(budget), self._in_flight:
                status, resp_headers, raw = await self._exchange(
                    method, _url(axon, route), headers, body, read
                )
            elapsed = time.perf_counter() - started
            response = self._check(
                status, resp_headers, raw, model, route, nonce, miner_hotkey, budget
            )
        except (_Failed, TimeoutError, httpx.HTTPError, httpx.InvalidURL) as exc:
            failure = exc if isinstance(exc, _Failed) else _classify(exc, budget)
            return QueryOutcome(
                failure.status,
                None,
                time.perf_counter() - started,
                read[0],
                http_status=failure.http_status,
                error=failure.error,
                detail=str(failure),
            )
        return QueryOutcome(
            QueryStatus.OK, response, elapsed, len(raw), status,
            request_nonce=nonce, raw=raw, signature=_auth_headers(resp_headers),
        )

    async def _exchange(
        self, method: str, url: str, headers: dict[str, str], body: bytes, read: list[int]
    ) -> tuple[int, httpx.Headers, bytes]:
        """Send and read at most the byte limit; ``read[0]`` tracks bytes read so far."""
        limit = self.max_response_bytes
        request = httpx.Request(method, url, headers={**headers, "Accept-Encoding": "identity"}, content=body)
        resp = await self._transport.handle_async_request(request)
        try:
            declared = resp.headers.get("content-length")
            if declared is not None and declared.isdigit() and int(declared) > limit:
                raise _Failed(
                    QueryStatus.BAD_RESPONSE,
                    f"response declares {declared} bytes, at most {limit} read",
                    http_status=resp.status_code,
                )
            encoding = resp.headers.get("content-encoding", "identity").strip().lower()
            if encoding != "identity":
                raise _Failed(
                    QueryStatus.BAD_RESPONSE,
                    f"response is {encoding}-encoded; only identity is accepted",
                    http_status=resp.status_code,
                )
            chunks: list[bytes] = []
            async for chunk in resp.aiter_bytes():
                read[0] += len(chunk)
                if read[0] > limit:
                    raise _Failed(
                        QueryStatus.BAD_RESPONSE,
                        f"response exceeds {limit} bytes; stopped reading",
                        http_status=resp.status_code,
                    )
                chunks.append(chunk)
            return resp.status_code, resp.headers, b"".join(chunks)
        finally:
            await resp.aclose()

    def _check(
        self,
        status: int,
        headers: httpx.Headers,
        raw: bytes,
        model: type[M],
        route: str,
        nonce: int,
        miner_hotkey: str,
        budget: float,
    ) -> M:
        if status != 200:
            error = _error_body(raw)
            what = f"{error.code.value}: {error.message}" if error else "no ErrorResponse body"
            raise _Failed(
                QueryStatus.HTTP_ERROR, f"HTTP {status} ({what})", http_status=status, error=error
            )
        try:
            verify_response(
                headers,
                raw,
                route=route,
                request_nonce=nonce,
                self_hotkey=self.hotkey,
                expected_hotkey=miner_hotkey,
                now_ns=int(self._clock() * 1e9),
                max_age=budget + bt.http_auth.DEFAULT_MAX_AGE,
            )
        except ResponseUntrusted as exc:
            raise _Failed(QueryStatus.BAD_SIGNATURE, str(exc), http_status=status) from None
        try:
            return decode(model, raw, max_bytes=self.max_response_bytes)
        except ProtocolError as exc:
            raise _Failed(QueryStatus.BAD_RESPONSE, str(exc), http_status=status) from None


def _classify(
    exc: TimeoutError | httpx.HTTPError | httpx.InvalidURL, budget: float
) -> _Failed:
    """The one place transport errors become outcomes."""
    if isinstance(exc, TimeoutError):
        return _Failed(QueryStatus.TIMEOUT, f"no complete answer within {budget:.1f}s")
    detail = f"{type(exc).__name__}: {exc}"
    if isinstance(exc, httpx.TimeoutException):
        return _Failed(QueryStatus.TIMEOUT, detail)
    if isinstance(exc, (httpx.ConnectError, httpx.UnsupportedProtocol, httpx.InvalidURL)):
        return _Failed(QueryStatus.CONNECT_ERROR, detail)
    return _Failed(QueryStatus.BAD_RESPONSE, detail)  # protocol errors, resets mid-body, ...


def _auth_headers(headers: httpx.Headers) -> dict[str, str]:
    """The ``btauth/1`` headers of a response (names lowercased), nothing else of it."""
    return {k.lower(): v for k, v in headers.items() if k.lower().startswith("x-bittensor-")}


def _error_body(raw: bytes) -> ErrorResponse | None:
    try:
        return decode(ErrorResponse, raw, max_bytes=4096)
    except ProtocolError:
        return None


def _url(axon: tuple[str, int], route: str) -> str:
    """``http://ip:port/route``; an axon that is not an IP address and port is a connect error."""
    ip, port = axon
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        raise _Failed(QueryStatus.CONNECT_ERROR, f"axon ip {ip!r} is not an IP address") from None
    if not isinstance(port, int) or not 0 < port < 65536:
        raise _Failed(QueryStatus.CONNECT_ERROR, f"axon port {port!r} is not a TCP port")
    host = f"[{address}]" if address.version == 6 else str(address)
    return f"http://{host}:{port}{route}"
