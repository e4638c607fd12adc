"""Who may hold a connection to the HTTP server, and for how long: the defence against floods.

The axon's address is public on chain, so anyone can open connections to it.
uvicorn alone counts every open connection against one concurrency cap
(``limit_concurrency``) and never times out a connection that has not finished
its request head: a few hundred idle or header-dripping sockets from one host
made it answer 503 to every validator. This module replaces that cap with
rules a stranger cannot use against a validator:

1. **Connections, at accept.** A connection from a *trusted* address (the
   axon IP of a validator the miner would admit, from an injected callable)
   may be one of ``per_trusted_ip`` from that address and is counted in no
   shared total. Any other ("stranger") may be one of ``per_ip`` from its
   address and of ``strangers`` from all strangers together. Over either cap,
   the connection is closed at once, unread.
2. **The request head** (request line and headers) must be complete within
   ``header_timeout_s`` of the connection, or of the previous response when
   the client has begun the next head; otherwise the connection is closed.
   A client that drips a header line every few seconds is cut off all the
   same. (A kept-alive connection that sends nothing after a response is
   closed by uvicorn's keep-alive timer, as before; that is not a refusal.)
3. **The head's size** is at most ``max_header_bytes`` whether it came in one
   write or in pieces (h11's own cap only applies to an incomplete head):
   over it is 431 and the connection closes. A head h11 cannot parse is 400.
4. **Requests in flight** (heads complete, answers not yet sent): at most
   ``requests`` at once, of which strangers may hold ``stranger_requests``,
   so the rest stays free for trusted addresses. Over it is 503, connection
   closed. Connections that never sent a head take none of these.

Every refusal is reported once to ``on_refused`` with its ``Refusal`` reason
(the miner counts them in ``connections_refused``). What it does not do:
tell a validator from a stranger by signature (that is the app's guard, after
the head), or protect a validator that does not announce an axon, or queries
from another address than it announces: those are strangers with their own
``per_ip`` room.
"""

from __future__ import annotations

import asyncio
import socket
from collections import Counter
from collections.abc import Callable, Container
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

import h11
from starlette.types import ASGIApp, Receive, Scope, Send
from uvicorn.config import Config
from uvicorn.protocols.http.h11_impl import STATUS_PHRASES, H11Protocol
from uvicorn.server import ServerState

__all__ = [
    "Refusal",
    "ConnectionLimits",
    "ConnectionPolicy",
    "ConnectionGate",
    "Slot",
    "GuardedH11Protocol",
    "RequestLimit",
    "peer_ip",
]


class Refusal(Enum):
    """Why a connection or a request was refused or closed; the value is the metrics label."""

    PER_IP_LIMIT = "per_ip_limit"  # its address already holds its share of connections
    CONNECTION_LIMIT = "connection_limit"  # strangers together hold all theirs
    HEADER_TIMEOUT = "header_timeout"  # the request head did not arrive in time
    HEADER_TOO_LARGE = "header_too_large"  # the request head is over the byte cap (431)
    MALFORMED = "malformed"  # not HTTP/1.1 that h11 can parse (400)
    REQUEST_LIMIT = "request_limit"  # too many requests in flight for its class (503)


@dataclass(frozen=True)
class ConnectionLimits:
    """The numbers behind the rules of the module docstring; the defaults are the miner's.

    ``stranger_requests`` must not exceed ``requests``; every number must be positive.
    """

    per_ip: int = 16
    strangers: int = 512
    per_trusted_ip: int = 64
    header_timeout_s: float = 5.0
    max_header_bytes: int = 8 * 1024  # a signed request's head is well under 1 KiB
    requests: int = 256
    stranger_requests: int = 192

    def __post_init__(self) -> None:
        numbers = (self.per_ip, self.strangers, self.per_trusted_ip, self.header_timeout_s,
                   self.max_header_bytes, self.requests, self.stranger_requests)
        if min(numbers) <= 0:
            raise ValueError(f"connection limits must be positive: {self}")
        if self.stranger_requests > self.requests:
            raise ValueError(f"stranger_requests {self.stranger_requests} is over requests {self.requests}")


def _nobody() -> Container[str]:
    return frozenset()


def _ignore(reason: Refusal) -> None:
    pass


@dataclass(frozen=True)
class ConnectionPolicy:
    """What the server is told: limits, the trusted addresses (called per connection and
    per request, so it must be cheap), and where refusals are reported."""

    limits: ConnectionLimits = field(default_factory=ConnectionLimits)
    trusted: Callable[[], Container[str]] = _nobody
    on_refused: Callable[[Refusal], None] = _ignore


@dataclass(frozen=True)
class Slot:
    """A connection or request the gate let in: from ``ip``, charged to the trusted pool or not.

    Kept by the holder and handed back on release, so a change of the trusted
    set in between does not unbalance the counts."""

    ip: str
    trusted: bool


class ConnectionGate:
    """The counts behind rules 1 and 4, for one server; pure bookkeeping, no I/O.

    Not thread-safe: used from the server's event loop only.
    """

    def __init__(self, policy: ConnectionPolicy) -> None:
        self.policy = policy
        self.limits = policy.limits
        self._connections: Counter[Slot] = Counter()
        self._strangers = 0
        self._requests = 0
        self._stranger_requests = 0

    def refuse(self, reason: Refusal) -> None:
        """Report a refusal (the server closes the connection itself)."""
        self.policy.on_refused(reason)

    def open(self, ip: str) -> Slot | Refusal:
        """A slot for a new connection from ``ip``, or why it is refused (reported already)."""
        slot = Slot(ip, ip in self.policy.trusted())
        if slot.trusted:
            if self._connections[slot] >= self.limits.per_trusted_ip:
                return self._refused(Refusal.PER_IP_LIMIT)
        elif self._connections[slot] >= self.limits.per_ip:
            return self._refused(Refusal.PER_IP_LIMIT)
        elif self._strangers >= self.limits.strangers:
            return self._refused(Refusal.CONNECTION_LIMIT)
        else:
            self._strangers += 1
        self._connections[slot] += 1
        return slot

    def close(self, slot: Slot) -> None:
        """Give back a slot from :meth:`open`."""
        self._connections[slot] -= 1
        if self._connections[slot] <= 0:
            del self._connections[slot]
        if not slot.trusted:
            self._strangers -= 1

    def start_request(self, ip: str) -> Slot | Refusal:
        """A slot for a request (head complete) from ``ip``, or ``REQUEST_LIMIT`` (reported)."""
        slot = Slot(ip, ip in self.policy.trusted())
        if self._requests >= self.limits.requests or (
            not slot.trusted and self._stranger_requests >= self.limits.stranger_requests
        ):
            return self._refused(Refusal.REQUEST_LIMIT)
        self._requests += 1
        self._stranger_requests += not slot.trusted
        return slot

    def end_request(self, slot: Slot) -> None:
        """Give back a slot from :meth:`start_request`."""
        self._requests -= 1
        self._stranger_requests -= not slot.trusted

    @property
    def connections(self) -> int:
        """Connections holding a slot now."""
        return sum(self._connections.values())

    @property
    def requests(self) -> int:
        """Requests in flight now."""
        return self._requests

    def _refused(self, reason: Refusal) -> Refusal:
        self.refuse(reason)
        return reason


def peer_ip(host: str) -> str:
    """The address a peer's ``host`` names, as the chain would list it: an IPv4 peer of a
    dual-stack (``::``) listener arrives as ``::ffff:a.b.c.d`` and is ``a.b.c.d`` here."""
    return host.removeprefix("::ffff:") if host.startswith("::ffff:") and "." in host else host


class _HeadCappedConnection(h11.Connection):
    """h11 that measures each request head as it is parsed and reports the outcome.

    h11 caps only an incomplete head (its receive buffer); a whole head that
    arrives in one read is parsed whatever its size. The bytes consumed while
    parsing a ``Request`` are exactly its head, so the cap is checked on them.
    """

    def __init__(self, max_header_bytes: int, on_head: Callable[[], None],
                 on_error: Callable[[Refusal], None]) -> None:
        super().__init__(h11.SERVER, max_incomplete_event_size=max_header_bytes)
        self._max_head = max_header_bytes
        self._on_head = on_head
        self._on_error = on_error

    def next_event(self) -> Any:
        awaiting_head = self.their_state is h11.IDLE
        buffered = len(self.trailing_data[0]) if awaiting_head else 0
        try:
            event = super().next_event()
        except h11.RemoteProtocolError as error:
            self._on_error(Refusal.HEADER_TOO_LARGE if error.error_status_hint == 431 else Refusal.MALFORMED)
            raise
        if awaiting_head and isinstance(event, h11.Request):
            if buffered - len(self.trailing_data[0]) > self._max_head:
                self._on_error(Refusal.HEADER_TOO_LARGE)
                raise h11.RemoteProtocolError("request head too large", error_status_hint=431)
            self._on_head()
        return event


def _no_delay(transport: asyncio.BaseTransport) -> None:
    """Turn Nagle's algorithm off on ``transport``'s TCP socket.

    uvicorn writes a response's head and its body in two writes. With Nagle on, the body
    waits for the peer to acknowledge the head, and a peer that delays its ACKs (Linux:
    up to 40 ms) holds every answer on a kept-alive connection that long: measured, 44 ms
    a request on loopback. asyncio turns it off only for sockets whose ``proto`` is
    ``IPPROTO_TCP``, which a socket made as ``socket(AF_INET, SOCK_STREAM)`` (``bind``,
    uvicorn's own) is not, so it is done here, for every connection accepted.
    """
    sock = transport.get_extra_info("socket")
    if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass  # the peer is already gone: connection_lost follows


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol under the gate's rules 1-3 (see the module docstring).

    Give it to uvicorn as ``http=functools.partial(GuardedH11Protocol, gate=gate)``
    with ``limit_concurrency=None``: rule 4 is :class:`RequestLimit` around the app.
    """

    def __init__(self, config: Config, server_state: ServerState, app_state: dict[str, Any],
                 _loop: asyncio.AbstractEventLoop | None = None, *, gate: ConnectionGate) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self._gate = gate
        self.conn = _HeadCappedConnection(gate.limits.max_header_bytes, self._head_complete, self._head_refused)
        self._slot: Slot | None = None
        self._head_timer: asyncio.TimerHandle | None = None
        self._head_begun = False  # bytes of a head have arrived since the last response
        self._error_status = 400

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        peer = transport.get_extra_info("peername")
        admitted = self._gate.open(peer_ip(str(peer[0])) if peer else "")
        if isinstance(admitted, Refusal):
            transport.close()  # before uvicorn knows of it: it holds no server state
            return
        self._slot = admitted
        _no_delay(transport)
        super().connection_made(transport)
        self._head_begun = True  # a fresh connection owes a head from the start
        self._arm_head_timer()

    def data_received(self, data: bytes) -> None:
        if self._slot is None:
            return  # refused: closing, unread
        if self._head_timer is not None:
            self._head_begun = True
        super().data_received(data)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._slot is None:
            return
        self._cancel_head_timer()
        self._gate.close(self._slot)
        super().connection_lost(exc)

    def on_response_complete(self) -> None:
        # Armed before uvicorn's handler, which parses a pipelined head at once (and disarms it).
        if not self.transport.is_closing():
            self._head_begun = False
            self._arm_head_timer()
        super().on_response_complete()

    def send_400_response(self, msg: str) -> None:
        # uvicorn answers every parse error 400; an oversized head is 431 (RFC 6585).
        status = self._error_status
        headers = [(b"content-type", b"text/plain; charset=utf-8"), (b"connection", b"close")]
        self.transport.write(self.conn.send(h11.Response(status_code=status, headers=headers,
                                                         reason=STATUS_PHRASES[status])))
        self.transport.write(self.conn.send(h11.Data(data=STATUS_PHRASES[status])))
        self.transport.write(self.conn.send(h11.EndOfMessage()))
        self.transport.close()

    def _head_complete(self) -> None:
        self._cancel_head_timer()

    def _head_refused(self, reason: Refusal) -> None:
        self._cancel_head_timer()
        self._error_status = 431 if reason is Refusal.HEADER_TOO_LARGE else 400
        self._gate.refuse(reason)

    def _arm_head_timer(self) -> None:
        self._cancel_head_timer()
        self._head_timer = self.loop.call_later(self._gate.limits.header_timeout_s, self._head_timed_out)

    def _cancel_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self.transport.is_closing():
            return
        if self._head_begun:  # silence after a response is keep-alive's business, not a refusal
            self._gate.refuse(Refusal.HEADER_TIMEOUT)
        self.transport.close()


class RequestLimit:
    """ASGI middleware for rule 4: a request over its class's share is 503, connection closed.

    The class is the client address's (``scope["client"]``) in the gate's trusted set.
    """

    def __init__(self, app: ASGIApp, gate: ConnectionGate) -> None:
        self.app = app
        self.gate = gate

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        client = scope.get("client")
        slot = self.gate.start_request(peer_ip(str(client[0])) if client else "")
        if isinstance(slot, Refusal):
            await send({"type": "http.response.start", "status": 503, "headers": [
                (b"content-type", b"text/plain; charset=utf-8"), (b"connection", b"close")]})
            await send({"type": "http.response.body", "body": b"Service Unavailable"})
            return
        try:
            await self.app(scope, receive, send)
        finally:
            self.gate.end_request(slot)
