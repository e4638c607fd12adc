"""neurons.shared.http_server: the port is bound on its own (clear error when taken), then uvicorn
serves it inside the daemon's loop, and stopping frees the port. What the server bounds
(connections, request heads, requests in flight) is tested in test_connections.py."""

from __future__ import annotations

import asyncio
import socket

import pytest
from fastapi import FastAPI

from neurons.shared.http_server import bind, serving, start_server, stop_server
from tests.support.ports import free_port, port_is_free

pytestmark = pytest.mark.anyio


def test_port_in_use_is_an_os_error_naming_the_address_and_the_flag():
    """Not uvicorn's SystemExit, which would skip the daemon's one-line error and cleanup."""
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        with pytest.raises(OSError, match=f"cannot listen on 127.0.0.1:{port}.*--axon.port"):
            bind("127.0.0.1", port)


def test_a_bound_port_is_taken_before_anything_serves_it():
    """What lets a daemon claim its port before a slow start-up: a second bind (as another
    miner would make, SO_REUSEADDR included) fails while nothing serves the first yet."""
    port = free_port()
    sock = bind("127.0.0.1", port)
    try:
        with pytest.raises(OSError, match=f"cannot listen on 127.0.0.1:{port}"):
            bind("127.0.0.1", port)
    finally:
        sock.close()
    assert port_is_free(port)


async def test_server_starts_and_stops_freeing_its_port():
    port = free_port()
    server, task = await start_server(FastAPI(), bind("127.0.0.1", port))
    assert not port_is_free(port)
    await asyncio.wait_for(stop_server(server, task), timeout=10)
    assert task.done() and port_is_free(port)


async def test_serving_frees_the_port_and_keeps_the_error_when_its_block_raises():
    port = free_port()
    with pytest.raises(RuntimeError, match="boom"):
        async with serving(FastAPI(), bind("127.0.0.1", port)) as task:
            assert not port_is_free(port) and not task.done()
            raise RuntimeError("boom")
    assert port_is_free(port)


async def test_every_accepted_connection_has_nagles_algorithm_off():
    """uvicorn writes a response's head and body apart: with Nagle on, the body waited for the
    peer's delayed ACK (40 ms) on every kept-alive request. The server's side of each
    connection must have TCP_NODELAY set (asyncio sets it only for sockets made with
    IPPROTO_TCP, which ``bind``'s is not)."""
    server, task = await start_server(FastAPI(), bind("127.0.0.1", 0))
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /nothing HTTP/1.1\r\nhost: x\r\n\r\n")
        await reader.readuntil(b"\r\n\r\n")  # answered (404): the connection is uvicorn's now
        connections = list(server.server_state.connections)
        assert len(connections) == 1
        sock = connections[0].transport.get_extra_info("socket")
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
        writer.close()
    finally:
        await asyncio.wait_for(stop_server(server, task), timeout=10)
