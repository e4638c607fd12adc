"""MinerTransport: the validator's HTTP/1.1 to miners (aiohttp behind httpx's transport interface),
against real TCP servers on loopback."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import httpx
import pytest

from neurons.validating.transport import MinerTransport

pytestmark = pytest.mark.anyio


@contextlib.asynccontextmanager
async def server(answer: bytes, seen: list[bytes] | None = None) -> AsyncIterator[str]:
    """A TCP server on 127.0.0.1 that reads one request head (and its body), sends ``answer``
    raw and closes; yields its base URL. ``seen`` collects what each connection sent."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                       if line.lower().startswith(b"content-length:")), 0)
        body = await reader.readexactly(length)
        if seen is not None:
            seen.append(head + body)
        writer.write(answer)
        await writer.drain()
        writer.close()

    srv = await asyncio.start_server(handle, "127.0.0.1", 0)
    try:
        yield f"http://127.0.0.1:{srv.sockets[0].getsockname()[1]}"
    finally:
        srv.close()
        await srv.wait_closed()


async def fetch(url: str, *, method: str = "POST", content: bytes = b"{}") -> tuple[httpx.Response, bytes]:
    async with httpx.AsyncClient(transport=MinerTransport(), trust_env=False) as client:
        async with client.stream(method, url, content=content, headers={"X-Test": "1"}) as response:
            body = b"".join([chunk async for chunk in response.aiter_bytes()])
            return response, body


async def test_sends_the_request_with_connection_close_and_reads_a_content_length_body() -> None:
    seen: list[bytes] = []
    answer = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 12\r\nx-sig: abc\r\n\r\n{\"ok\": true}"
    async with server(answer, seen) as base:
        response, body = await fetch(base + "/prove?x=1", content=b'{"a": 1}')
    assert (response.status_code, body, response.headers["x-sig"]) == (200, b'{"ok": true}', "abc")
    sent = seen[0]
    assert sent.startswith(b"POST /prove?x=1 HTTP/1.1\r\n")
    assert b"\r\nConnection: close\r\n" in sent and b"keep-alive" not in sent.lower()
    assert b"\r\nx-test: 1\r\n" in sent.lower() and b"\r\nhost: 127.0.0.1:" in sent.lower()
    assert sent.endswith(b'\r\n\r\n{"a": 1}')


async def test_reads_a_chunked_body_and_skips_an_informational_head() -> None:
    answer = (b"HTTP/1.1 100 Continue\r\n\r\n"
              b"HTTP/1.1 503 Service Unavailable\r\ntransfer-encoding: chunked\r\n\r\n"
              b"5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\ntrailer: x\r\n\r\n")
    async with server(answer) as base:
        response, body = await fetch(base + "/prove")
    assert (response.status_code, body) == (503, b"hello world")


async def test_reads_an_unframed_body_to_the_connection_end() -> None:
    async with server(b"HTTP/1.0 200 OK\r\n\r\neverything until close") as base:
        response, body = await fetch(base + "/")
    assert (response.status_code, body) == (200, b"everything until close")


async def test_a_port_without_listener_is_a_connect_error() -> None:
    async with server(b"") as base:
        pass  # closed: nothing listens there any more
    with pytest.raises(httpx.ConnectError):
        await fetch(base + "/prove")


@pytest.mark.parametrize("answer", [
    pytest.param(b"", id="nothing"),
    pytest.param(b"HTTP/1.1 200 OK\r\ncontent-le", id="head cut short"),
    pytest.param(b"SSH-2.0-OpenSSH\r\n\r\n", id="not HTTP"),
    pytest.param(b"HTTP/1.1 200 OK\r\ncontent-length: 12\r\n\r\nshort", id="body cut short"),
    pytest.param(b"HTTP/1.1 200 OK\r\ncontent-length: -1\r\n\r\n", id="bad content-length"),
    pytest.param(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n", id="bad chunk size"),
    pytest.param(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nab", id="chunk cut short"),
    pytest.param(b"HTTP/1.1 200 OK\r\nx: " + b"a" * 70_000 + b"\r\n\r\n", id="huge header"),
])
async def test_a_broken_answer_is_a_remote_protocol_error(answer: bytes) -> None:
    """Tried: a miner that answers with something that is not a whole HTTP/1.x answer, then
    hangs up. Must hold: httpx's RemoteProtocolError (MinerClient's ``bad_response``), with a
    reason, never a hang and never another exception."""
    async with server(answer) as base:
        async with asyncio.timeout(5):
            with pytest.raises(httpx.RemoteProtocolError) as raised:
                await fetch(base + "/prove")
    assert str(raised.value)


async def test_only_plain_http_is_spoken() -> None:
    with pytest.raises(httpx.UnsupportedProtocol):
        await fetch("https://127.0.0.1:1/prove")


async def test_a_204_has_no_body_even_while_the_connection_stays_open() -> None:
    async def no_content(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 204 No Content\r\n\r\n")
        await writer.drain()
        while await reader.read(1024):  # holds the connection until the client closes it
            pass

    srv = await asyncio.start_server(no_content, "127.0.0.1", 0)
    try:
        async with asyncio.timeout(5):
            response, body = await fetch(f"http://127.0.0.1:{srv.sockets[0].getsockname()[1]}/", method="GET",
                                         content=b"")
    finally:
        srv.close()
        await srv.wait_closed()
    assert (response.status_code, body) == (204, b"")


async def test_an_encoded_body_is_passed_on_as_sent_never_inflated() -> None:
    """Tried: a gzip-encoded answer (a small bomb inflates to far more than the response limit).
    Must hold: the transport hands on the bytes as they came, with their Content-Encoding, so
    MinerClient can refuse them unread as ``bad_response`` instead of inflating them."""
    import gzip

    packed = gzip.compress(b"0" * 1_000_000)
    answer = b"HTTP/1.1 200 OK\r\ncontent-encoding: gzip\r\ncontent-length: %d\r\n\r\n" % len(packed) + packed
    async with server(answer) as base:
        response = await MinerTransport().handle_async_request(httpx.Request("POST", base + "/prove", content=b"{}"))
        body = b"".join([chunk async for chunk in response.aiter_raw()])  # raw: httpx's own decoders left out
        await response.aclose()
    assert response.headers["content-encoding"] == "gzip" and body == packed
