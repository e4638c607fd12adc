"""The miner's side of signed HTTP: who may ask it for work, and its signed answers.

Server side, :meth:`RequestGuard.admit` runs, in order, before any body is
parsed or any work is queued — cheapest first, so a caller the miner would
refuse anyway costs it no signature check and no nonce-store entry:

1. declared size — ``Content-Length`` over the limit is :class:`BodyTooLarge`
   (413); the body is never read;
2. caller policy on the CLAIMED hotkey (the ``X-Bittensor-Hotkey`` header,
   not yet verified), checked by :class:`CallerPolicy` on a metagraph
   snapshot from an injected callable: no such header is
   :class:`Unauthenticated` (401); not registered on the netuid, no
   validator permit, or stake under the minimum is :class:`Forbidden` (403).
   If no snapshot can be had, :class:`PolicyUnavailable` (503): the guard
   fails closed;
3. the body, bounded in bytes (more than the limit while reading is
   :class:`BodyTooLarge`, 413, the rest unread) and in time (not complete
   within ``body_timeout`` seconds is :class:`BodyTimeout`, 408);
4. ``btauth/1`` signature (``bt.http_auth.verify``): header shape, receiver =
   this miner's hotkey, freshness, signature, then nonce replay — any failure
   is :class:`Unauthenticated` (401). Only a permitted caller's valid
   signature reaches the nonce store, and a forged header naming a permitted
   hotkey is refused here, before any work. A request whose nonce (its
   signing time) is before the guard was built is refused first, also 401:
   the nonce store lives in memory, so without this a request captured
   before a restart could be replayed once after it, inside the freshness
   window. (The price: a request signed in the last seconds before a restart
   is refused after it; the validator asks again next round.)

Responses to admitted callers are signed too (:func:`sign_response`), bound
to the request's route and nonce (see ``protocol.response_target``) and
addressed to the caller; the validator checks them with
``neurons.validating.signing.verify_response``. The guard's refusals are not signed: the caller is
not verified, so a signature would be work done for anyone, and clients
ignore signatures on refusals.

Time comes from an injected ``clock`` (unix seconds); the nonces of signed
responses come from a ``neurons.shared.nonces.NonceClock``.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

import bittensor as bt
from bittensor.http_auth import HEADER_HOTKEY, HEADER_NONCE, AuthError, NonceStore
from starlette.requests import ClientDisconnect, Request

from neurons.chain import MetagraphView, NeuronInfo
from neurons.shared.admission import Broken, first_broken_rule
from neurons.shared.signed_requests import request_target
from protocol import MAX_REQUEST_BYTES, RESPONSE_METHOD, ErrorCode, response_target

__all__ = [
    "BODY_TIMEOUT_S",
    "GuardRejected",
    "BodyTooLarge",
    "BodyTimeout",
    "Unauthenticated",
    "Forbidden",
    "PolicyUnavailable",
    "CallerPolicy",
    "Admitted",
    "RequestGuard",
    "MetagraphSource",
    "sign_response",
    "claimed_nonce",
    "claimed_hotkey",
    "read_capped",
    "check_declared_size",
]

log = logging.getLogger(__name__)

MetagraphSource = Callable[[], "MetagraphView | Awaitable[MetagraphView]"]
"""Returns the latest metagraph snapshot (sync or async); never touches the network itself."""

_MAX_HEADER_ECHO = 64  # longest claimed hotkey / nonce we echo into a response signature
BODY_TIMEOUT_S = bt.http_auth.DEFAULT_MAX_AGE  # a body slower than this would be stale anyway


class GuardRejected(Exception):
    """Root of the server-side refusals; ``code`` is the wire error code to answer with.

    Messages are safe to send to the (possibly unauthenticated) caller.
    """

    code: ErrorCode = ErrorCode.INTERNAL


class BodyTooLarge(GuardRejected):
    """The body is over the byte limit; it was not read to the end."""

    code = ErrorCode.TOO_LARGE


class BodyTimeout(GuardRejected):
    """The body did not arrive in time (a stalled or deliberately slow sender)."""

    code = ErrorCode.DEADLINE_EXCEEDED


class Unauthenticated(GuardRejected):
    """The ``btauth/1`` signature is missing, malformed, stale, replayed, or wrong."""

    code = ErrorCode.UNAUTHENTICATED


class Forbidden(GuardRejected):
    """The signer is authentic but the policy does not let it ask for work."""

    code = ErrorCode.FORBIDDEN


class PolicyUnavailable(GuardRejected):
    """No usable metagraph snapshot, so callers cannot be checked; fails closed."""

    code = ErrorCode.UNAVAILABLE


@dataclass(frozen=True)
class CallerPolicy:
    """Who may call: a registered neuron on ``netuid`` with a permit and enough stake.

    ``min_stake`` is in the metagraph's stake unit; 0 relaxes the stake check
    (devnet). ``require_permit=False`` drops the validator-permit check.
    """

    netuid: int
    min_stake: float
    require_permit: bool = True

    def check(self, hotkey: str, view: MetagraphView) -> NeuronInfo:
        """The caller's neuron, or :class:`Forbidden` naming the first rule it breaks.

        Checks, in order: registration, permit, stake. Raises
        :class:`PolicyUnavailable` if ``view`` is for another netuid.
        """
        if view.netuid != self.netuid:
            raise PolicyUnavailable(
                f"metagraph snapshot is for netuid {view.netuid}, expected {self.netuid}"
            )
        neuron = view.by_hotkey(hotkey)
        broken = first_broken_rule(neuron, min_stake=self.min_stake, require_permit=self.require_permit)
        if neuron is None:
            raise Forbidden(f"hotkey {hotkey} is not registered on netuid {self.netuid}")
        if broken is Broken.NO_PERMIT:
            raise Forbidden(f"uid {neuron.uid} has no validator permit")
        if broken is Broken.LOW_STAKE:
            raise Forbidden(
                f"uid {neuron.uid} has stake {neuron.stake:g}, at least {self.min_stake:g} needed"
            )
        return neuron


@dataclass(frozen=True)
class Admitted:
    """A request that passed every check: who sent it, and its raw body (unparsed).

    ``nonce`` is the request's verified nonce header as sent ("" if too long to
    echo); the answer's signature is bound to it.
    """

    hotkey: str
    nonce: str
    neuron: NeuronInfo
    body: bytes


class RequestGuard:
    """The server-side checks of one app instance (owns its nonce store).

    ``nonce_store`` must retain entries for at least ``max_age + allowed_skew``
    seconds; the default in-memory store is sized for that. Requests signed
    before ``started`` (unix seconds; default ``clock()`` at construction) are
    refused (see the module docstring): build one guard per server start.
    """

    def __init__(
        self,
        *,
        hotkey: str,
        policy: CallerPolicy,
        metagraph: MetagraphSource,
        nonce_store: NonceStore | None = None,
        clock: Callable[[], float] = time.time,
        max_body_bytes: int = MAX_REQUEST_BYTES,
        max_age: float = bt.http_auth.DEFAULT_MAX_AGE,
        allowed_skew: float = bt.http_auth.DEFAULT_ALLOWED_SKEW,
        body_timeout: float = BODY_TIMEOUT_S,
        started: float | None = None,
    ) -> None:
        self.hotkey = hotkey
        self.policy = policy
        self._metagraph = metagraph
        self._nonces = nonce_store or bt.http_auth.InMemoryNonceStore(
            retention=max(60.0, 2 * (max_age + allowed_skew))
        )
        self._clock = clock
        self.max_body_bytes = max_body_bytes
        self._max_age = max_age
        self._allowed_skew = allowed_skew
        self.body_timeout = body_timeout
        self._started_ns = int((clock() if started is None else started) * 1e9)

    async def admit(self, request: Request) -> Admitted:
        """Run every check on ``request`` (see the module docstring) and return the caller.

        Raises a :class:`GuardRejected` leaf; never parses the body.
        """
        check_declared_size(request, self.max_body_bytes)
        claimed = claimed_hotkey(request.headers)
        if claimed is None:
            raise Unauthenticated(f"missing or malformed {HEADER_HOTKEY} header")
        neuron = self.policy.check(claimed, await self._snapshot())
        try:
            async with asyncio.timeout(self.body_timeout):
                body = await read_capped(request, self.max_body_bytes)
        except TimeoutError:
            raise BodyTimeout(f"body not received within {self.body_timeout:g}s") from None
        nonce_header = claimed_nonce(request.headers)
        if nonce_header is not None and nonce_header.isdigit() and int(nonce_header) < self._started_ns:
            raise Unauthenticated(
                "StaleRequest: signed before this miner started; a request from before a "
                "restart is never served (sign a new one)"
            )
        try:
            caller = bt.http_auth.verify(
                request.headers,
                body,
                method=request.method,
                path=request_target(request),
                self_hotkey_ss58=self.hotkey,
                max_age=self._max_age,
                allowed_skew=self._allowed_skew,
                require_receiver=True,
                nonce_store=self._nonces,
                now_ns=int(self._clock() * 1e9),
            )
        except AuthError as exc:
            raise Unauthenticated(f"{type(exc).__name__}: {exc}") from None
        if caller.hotkey_ss58 != claimed:  # verify reads the same header; never expected
            raise Unauthenticated("signer is not the claimed hotkey")
        return Admitted(hotkey=claimed, nonce=nonce_header or "", neuron=neuron, body=body)

    async def _snapshot(self) -> MetagraphView:
        try:
            view = self._metagraph()
            if inspect.isawaitable(view):
                view = await view
        except Exception as exc:  # any failure of the source means: cannot check callers
            log.warning("metagraph snapshot unavailable: %s: %s", type(exc).__name__, exc)
            raise PolicyUnavailable("metagraph snapshot unavailable; try again later") from None
        if not isinstance(view, MetagraphView):
            raise PolicyUnavailable("metagraph source returned no snapshot")
        return view


def check_declared_size(request: Request, max_bytes: int) -> None:
    """:class:`BodyTooLarge` if ``Content-Length`` is unreadable or over ``max_bytes``."""
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            if int(declared) > max_bytes:
                raise BodyTooLarge(f"body is {declared} bytes, at most {max_bytes} allowed")
        except ValueError:
            raise BodyTooLarge("unreadable Content-Length") from None


async def read_capped(request: Request, max_bytes: int) -> bytes:
    """The whole body, or :class:`BodyTooLarge` as soon as it is known to exceed
    ``max_bytes``. Unbounded in time: callers wrap it in a timeout."""
    check_declared_size(request, max_bytes)
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > max_bytes:
                raise BodyTooLarge(f"body exceeds {max_bytes} bytes")
            chunks.append(chunk)
    except ClientDisconnect:
        raise Unauthenticated("client disconnected before the body was complete") from None
    return b"".join(chunks)


def claimed_nonce(headers: Mapping[str, str]) -> str | None:
    """The request's nonce header as sent (unverified), if short enough to echo."""
    value = _header(headers, HEADER_NONCE)
    return value if value and len(value) <= _MAX_HEADER_ECHO else None


def claimed_hotkey(headers: Mapping[str, str]) -> str | None:
    """The request's sender header as sent (unverified), if short enough to echo."""
    value = _header(headers, HEADER_HOTKEY)
    return value if value and len(value) <= _MAX_HEADER_ECHO else None


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is None:
        value = headers.get(name.lower())
    return value


def sign_response(
    signer: bt.Signer,
    *,
    route: str,
    request_nonce: str | None,
    body: bytes,
    receiver: str | None,
    nonce_ns: int,
) -> dict[str, str]:
    """The ``btauth/1`` headers of a response: bound to the request's route and nonce."""
    return bt.http_auth.sign(
        signer,
        method=RESPONSE_METHOD,
        path=response_target(route, request_nonce),
        body=body,
        receiver_ss58=receiver,
        nonce_ns=nonce_ns,
    )
