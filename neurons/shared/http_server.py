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
client can hold: at most ``MAX_CONNECTIONS`` connections and tasks at once
(more are answered 503 at once), a header block of at most
``MAX_HEADER_BYTES`` (more is 400 and the connection closes), and idle
keep-alive connections closed after ``KEEP_ALIVE_S``. Bodies are bounded in
bytes and time by the app's guard (``neurons.mining.guard``). It always speaks h11,
where the header cap applies.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Iterator

import uvicorn
from starlette.types import ASGIApp

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
MAX_CONNECTIONS = 256  # uvicorn's limit_concurrency: connections plus tasks in flight
MAX_HEADER_BYTES = 8 * 1024  # a signed request's headers are well under 1 KiB
KEEP_ALIVE_S = 5


class _QuietServer(uvicorn.Server):
    # The daemon owns SIGINT/SIGTERM (it must also stop its workers and loops);
    # uvicorn's own capture would re-raise them after shutdown.
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def bind(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``host:port`` and listening, for ``start_server``.

    Listening is what claims the port on Linux (two SO_REUSEADDR sockets may
    both be bound to it until one listens). Connections made before the
    server starts wait in the backlog. Raises ``OSError`` with one line naming
    the address and what to do when the port is taken or the address is not
    ours. The caller owns the socket until ``start_server`` takes it.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen()
    except OSError as error:
        sock.close()
        raise OSError(
            f"cannot listen on {host}:{port} ({error.strerror or error}); stop what holds the "
            "port or choose another with --axon.port"
        ) from None
    return sock


async def start_server(app: ASGIApp, sock: socket.socket) -> tuple[uvicorn.Server, asyncio.Task[None]]:
    """Serve ``app`` on ``sock`` (from ``bind``); returns once the server accepts connections.

    The server owns the socket from here: stopping it closes the socket, and
    so does a server that stops at start (then ``OSError`` naming the address).
    """
    host, port = sock.getsockname()[:2]
    server = _QuietServer(
        uvicorn.Config(
            app, log_config=None, access_log=False, lifespan="off",
            timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
            http="h11",
            limit_concurrency=MAX_CONNECTIONS,
            h11_max_incomplete_event_size=MAX_HEADER_BYTES,
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
async def serving(app: ASGIApp, sock: socket.socket) -> AsyncIterator[asyncio.Task[None]]:
    """Serve ``app`` on the bound ``sock`` for the duration of the block; yields the server's task.

    The task ends early if the server stops by itself. A normal exit stops the
    server and re-raises what stopped it; an exit by exception frees the port
    and lets the original exception through.
    """
    server, task = await start_server(app, sock)
    try:
        yield task
    except BaseException:
        with contextlib.suppress(Exception):
            await stop_server(server, task)
        raise
    await stop_server(server, task)
