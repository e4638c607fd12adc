"""Serve an ASGI app with uvicorn inside the daemon's event loop.

``start_server`` binds the socket itself, so a port in use is an ``OSError``
naming the address (uvicorn's own bind failure is a ``SystemExit``, which
would skip the daemon's one-line error and its clean-up), and returns once
the server accepts connections. ``stop_server`` stops taking connections,
lets requests in flight finish (at most ``GRACEFUL_SHUTDOWN_S``) and waits
for the server. ``serving`` pairs the two as an async context manager.
Signals stay with the daemon: the server installs no handlers of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator

import uvicorn

__all__ = ["GRACEFUL_SHUTDOWN_S", "start_server", "stop_server", "serving"]

GRACEFUL_SHUTDOWN_S = 20


class _QuietServer(uvicorn.Server):
    # The daemon owns SIGINT/SIGTERM (it must also stop its workers and loops);
    # uvicorn's own capture would re-raise them after shutdown.
    @contextlib.contextmanager
    def capture_signals(self):  # type: ignore[override]
        yield


async def start_server(app, host: str, port: int) -> tuple[uvicorn.Server, asyncio.Task]:
    """Listen on ``host:port`` and serve ``app``; returns once the server accepts connections."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        sock = socket.create_server((host, port), family=family)
    except OSError as error:
        raise OSError(
            f"cannot listen on {host}:{port} ({error.strerror or error}); "
            "is another process using it? choose another --axon.port"
        ) from None
    server = _QuietServer(
        uvicorn.Config(
            app, log_config=None, access_log=False, lifespan="off",
            timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
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


async def stop_server(server: uvicorn.Server, task: asyncio.Task) -> None:
    """Stop taking connections, let requests in flight finish (bounded), wait for the server.

    Re-raises whatever stopped the server, if anything did.
    """
    server.should_exit = True
    await task


@contextlib.asynccontextmanager
async def serving(app, host: str, port: int) -> AsyncIterator[asyncio.Task]:
    """Serve ``app`` for the duration of the block; yields the server's task.

    The task ends early if the server stops by itself. A normal exit stops the
    server and re-raises what stopped it; an exit by exception frees the port
    and lets the original exception through.
    """
    server, task = await start_server(app, host, port)
    try:
        yield task
    except BaseException:
        with contextlib.suppress(Exception):
            await stop_server(server, task)
        raise
    await stop_server(server, task)
