"""Serve an ASGI app with uvicorn inside the daemon's event loop.

``bind`` takes the port first, on its own, so a daemon can claim it before a
slow start-up and a port in use fails at once: an ``OSError`` whose one line
names the address and ``--axon.port`` (uvicorn's own bind failure is a
``SystemExit``, which would skip the daemon's one-line error and its
clean-up). ``start_server`` serves the app on that bound socket and returns
once the server accepts connections. ``stop_server`` stops taking
connections, lets requests in flight finish (at most ``GRACEFUL_SHUTDOWN_S``)
and waits for the server. ``serving`` pairs the two as an async context
manager. Signals stay with the daemon: the server installs no handlers of its own.

The port may face the internet, so the server bounds what an unsigned
client can hold, by a ``neurons.shared.connections.ConnectionPolicy``
(``policy=``; see that module for the rules): connections per address and in
all for strangers, with room of their own for trusted (validator) addresses; a
request head complete within a few seconds and at most ``MAX_HEADER_BYTES``
(431 otherwise, in one write or in pieces); requests in flight, at most
``MAX_CONNECTIONS``, part of them kept for trusted addresses (503 otherwise).
Idle keep-alive connections are closed after ``KEEP_ALIVE_S``. Bodies are
bounded in bytes and time by the app's guard (``neurons.mining.guard``).
Every accepted connection has Nagle's algorithm off (``TCP_NODELAY``), so an
answer's body never waits for the peer to acknowledge its head.

It speaks h11 through ``GuardedH11Protocol``, a subclass of uvicorn's, because
uvicorn alone cannot hold these lines: its one concurrency cap counts idle
connections too (strangers could fill it and every validator got 503), it
never times out a connection that has not finished its head, and its header
cap misses a head sent in one write. uvicorn's ``limit_concurrency`` is off;
the policy's request limit takes its place.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import socket
from collections.abc import AsyncIterator, Iterator

import uvicorn
from starlette.types import ASGIApp

from neurons.shared.connections import (
    ConnectionGate,
    ConnectionLimits,
    ConnectionPolicy,
    GuardedH11Protocol,
    RequestLimit,
)

__all__ = [
    "GRACEFUL_SHUTDOWN_S",
    "MAX_CONNECTIONS",
    "MAX_HEADER_BYTES",
    "KEEP_ALIVE_S",
    "bind",
    "start_server",
    "stop_server",
    "serving",
]

GRACEFUL_SHUTDOWN_S = 20
MAX_CONNECTIONS = ConnectionLimits().requests  # requests in flight at once (idle connections hold none)
MAX_HEADER_BYTES = ConnectionLimits().max_header_bytes  # a signed request's headers are well under 1 KiB
KEEP_ALIVE_S = 5
# Connections waiting to be accepted; Python's default (128) overflows in a flood and the kernel
# then drops a validator's SYN too (retried after 1 s, 3 s, ...). The kernel caps it at somaxconn.
_BACKLOG = 1024


class _QuietServer(uvicorn.Server):
    # The daemon owns SIGINT/SIGTERM (it must also stop its workers and loops);
    # uvicorn's own capture would re-raise them after shutdown.
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def bind(host: str, port: int, *, flag: str = "--axon.port") -> socket.socket:
    """A TCP socket bound to ``host:port`` and listening, for ``start_server``.

    Listening is what claims the port on Linux (two SO_REUSEADDR sockets may
    both be bound to it until one listens). Connections made before the
    server starts wait in the backlog. Raises ``OSError`` with one line naming
    the address and what to do when the port is taken or the address is not
    ours; ``flag`` is the option that chooses the port, named in that line. The caller owns
    the socket until ``start_server`` takes it.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(_BACKLOG)
    except OSError as error:
        sock.close()
        raise OSError(
            f"cannot listen on {host}:{port} ({error.strerror or error}); stop what holds the "
            f"port or choose another with {flag}"
        ) from None
    return sock


async def start_server(
    app: ASGIApp, sock: socket.socket, *, policy: ConnectionPolicy | None = None
) -> tuple[uvicorn.Server, asyncio.Task[None]]:
    """Serve ``app`` on ``sock`` (from ``bind``) under ``policy`` (default: the default limits,
    no trusted address, refusals not reported); returns once the server accepts connections.

    The server owns the socket from here: stopping it closes the socket, and
    so does a server that stops at start (then ``OSError`` naming the address).
    """
    host, port = sock.getsockname()[:2]
    gate = ConnectionGate(policy or ConnectionPolicy())
    server = _QuietServer(
        uvicorn.Config(
            RequestLimit(app, gate), log_config=None, access_log=False, lifespan="off",
            timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
            http=functools.partial(GuardedH11Protocol, gate=gate),  # type: ignore[arg-type]
            limit_concurrency=None,  # it counts idle connections; RequestLimit does not
            h11_max_incomplete_event_size=gate.limits.max_header_bytes,
            timeout_keep_alive=KEEP_ALIVE_S,
        )
    )
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        if task.done():
            sock.close()
            await task
            raise OSError(f"the HTTP server on {host}:{port} stopped at start")
        await asyncio.sleep(0.02)
    return server, task


async def stop_server(server: uvicorn.Server, task: asyncio.Task[None]) -> None:
    """Stop taking connections, let requests in flight finish (bounded), wait for the server.

    Re-raises whatever stopped the server, if anything did.
    """
    server.should_exit = True
    await task


@contextlib.asynccontextmanager
async def serving(
    app: ASGIApp, sock: socket.socket, *, policy: ConnectionPolicy | None = None
) -> AsyncIterator[asyncio.Task[None]]:
    """Serve ``app`` on the bound ``sock`` under ``policy`` (as ``start_server``) for the
    duration of the block; yields the server's task.

    The task ends early if the server stops by itself. A normal exit stops the
    server and re-raises what stopped it; an exit by exception frees the port
    and lets the original exception through.
    """
    server, task = await start_server(app, sock, policy=policy)
    try:
        yield task
    except BaseException:
        with contextlib.suppress(Exception):
            await stop_server(server, task)
        raise
    await stop_server(server, task)
