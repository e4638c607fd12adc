"""neurons.http_server: uvicorn inside the daemon's loop, with clear bind errors and a freed port."""

from __future__ import annotations

import asyncio
import socket

import pytest
from fastapi import FastAPI

from neurons.http_server import serving, start_server, stop_server
from tests.fakes import free_port, port_is_free

pytestmark = pytest.mark.anyio


async def test_port_in_use_is_an_os_error_naming_the_address():
    """Not uvicorn's SystemExit, which would skip the daemon's one-line error and cleanup."""
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        with pytest.raises(OSError, match=f"cannot listen on 127.0.0.1:{port}.*--axon.port"):
            await start_server(object(), "127.0.0.1", port)


async def test_server_starts_and_stops_freeing_its_port():
    port = free_port()
    server, task = await start_server(FastAPI(), "127.0.0.1", port)
    assert not port_is_free(port)
    await asyncio.wait_for(stop_server(server, task), timeout=10)
    assert task.done() and port_is_free(port)


async def test_serving_frees_the_port_and_keeps_the_error_when_its_block_raises():
    port = free_port()
    with pytest.raises(RuntimeError, match="boom"):
        async with serving(FastAPI(), "127.0.0.1", port) as task:
            assert not port_is_free(port) and not task.done()
            raise RuntimeError("boom")
    assert port_is_free(port)
