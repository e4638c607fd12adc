"""The validator's HTTP transport to miners: HTTP/1.1 on asyncio streams, one connection per request.

``MinerClient``'s default transport (``httpx``'s own, httpcore over anyio and h11) cost the
validator about 2 ms of CPU per query, most of a round's CPU outside verification; this
one speaks the part of HTTP/1.1 a miner's server (uvicorn) speaks, at a fraction of that:

- one TCP connection per request, sent with ``Connection: close`` and closed with the
  response: a miner is asked once a round (12 s) and closes idle connections after 5 s,
  so a kept connection would not be reused in rounds anyway;
- ``http`` URLs only (axons are plain HTTP): any other scheme is ``httpx.UnsupportedProtocol``;
- the response body is framed by ``Transfer-Encoding: chunked``, else ``Content-Length``,
  else the connection's end; ``1xx`` heads are skipped; ``204`` and ``304`` have no body;
- failures are httpx's exceptions, so ``MinerClient`` classifies them as before:
  ``httpx.ConnectError`` (no connection), ``httpx.WriteError`` (lost while sending),
  ``httpx.ReadError`` (lost while reading), ``httpx.RemoteProtocolError`` (no answer at
  all, a head that is not HTTP/1.x or longer than :data:`MAX_HEAD_BYTES`, bad framing,
  a body cut short).

Timeouts are the caller's: ``MinerClient`` bounds every query with ``asyncio.timeout``
(httpx's ``Timeout`` settings are not read here); a cancelled request closes its connection.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx

__all__ = ["MinerTransport", "MAX_HEAD_BYTES"]

MAX_HEAD_BYTES = 64 * 1024
"""The most bytes a response's status line and headers may take."""

_NO_BODY = frozenset({204, 304})


class MinerTransport(httpx.AsyncBaseTransport):
    """See the module docstring. Holds no state: there is nothing to close."""

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        if url.scheme != "http":
            raise httpx.UnsupportedProtocol(f"only http:// is spoken to miners, not {url.scheme}://",
                                            request=request)
        body = await request.aread()
        try:
            reader, writer = await asyncio.open_connection(url.host, url.port or 80, limit=MAX_HEAD_BYTES)
        except OSError as error:
            raise httpx.ConnectError(f"{type(error).__name__}: {error}", request=request) from None
        try:
            writer.write(_head(request) + body)
            try:
                await writer.drain()
            except OSError as error:
                raise httpx.WriteError(f"{type(error).__name__}: {error}", request=request) from None
            status, reason, headers = await _read_head(reader, request)
        except BaseException:  # cancelled (the caller's timeout) or failed: the connection goes
            writer.close()
            raise
        stream = _Body(reader, writer, _framing(status, headers, request), request)
        return httpx.Response(status, headers=headers, stream=stream, request=request,
                              extensions={"http_version": b"HTTP/1.1", "reason_phrase": reason})


def _head(request: httpx.Request) -> bytes:
    url = request.url
    lines = [b"%s %s HTTP/1.1" % (request.method.encode("ascii"), url.raw_path)]
    lines += [name + b": " + value for name, value in request.headers.raw if name.lower() != b"connection"]
    lines.append(b"Connection: close")
    return b"\r\n".join(lines) + b"\r\n\r\n"


async def _read_head(
    reader: asyncio.StreamReader, request: httpx.Request
) -> tuple[int, bytes, list[tuple[bytes, bytes]]]:
    """The first final (non-``1xx``) response head: status, reason phrase, headers."""
    while True:
        try:
            raw = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError as error:
            what = "without sending a response" if not error.partial else "in the middle of the response head"
            raise httpx.RemoteProtocolError(f"the miner closed the connection {what}", request=request) from None
        except asyncio.LimitOverrunError:
            raise httpx.RemoteProtocolError(f"response head over {MAX_HEAD_BYTES} bytes",
                                            request=request) from None
        except OSError as error:
            raise httpx.ReadError(f"{type(error).__name__}: {error}", request=request) from None
        status_line, *header_lines = raw[:-4].split(b"\r\n")
        version, _, rest = status_line.partition(b" ")
        code, _, reason = rest.partition(b" ")
        if not version.startswith(b"HTTP/1.") or len(code) != 3 or not code.isdigit():
            raise httpx.RemoteProtocolError(f"not an HTTP/1.x status line: {status_line[:80]!r}", request=request)
        headers = []
        for line in header_lines:
            name, colon, value = line.partition(b":")
            if not colon or not name or name != name.strip():
                raise httpx.RemoteProtocolError(f"malformed header line: {line[:80]!r}", request=request)
            headers.append((name, value.strip()))
        status = int(code)
        if not 100 <= status < 200:
            return status, reason, headers


def _framing(status: int, headers: list[tuple[bytes, bytes]], request: httpx.Request) -> int | str | None:
    """``"chunked"``, a byte count, or None (to the connection's end)."""
    if status in _NO_BODY:
        return 0
    values = {name.lower(): value for name, value in headers}
    if b"chunked" in values.get(b"transfer-encoding", b"").lower():
        return "chunked"
    length = values.get(b"content-length")
    if length is None:
        return None
    if not length.isdigit():
        raise httpx.RemoteProtocolError(f"bad Content-Length {length[:40]!r}", request=request)
    return int(length)


class _Body(httpx.AsyncByteStream):
    """A response body as it arrives; closing it closes the connection."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, framing: int | str | None,
                 request: httpx.Request) -> None:
        self._reader, self._writer, self._framing, self._request = reader, writer, framing, request

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            if self._framing == "chunked":
                async for chunk in self._chunks():
                    yield chunk
            elif isinstance(self._framing, int):
                left = self._framing
                while left > 0:
                    chunk = await self._reader.read(min(left, 65536))
                    if not chunk:
                        raise httpx.RemoteProtocolError(
                            f"the miner closed the connection {left} bytes before the body's end",
                            request=self._request)
                    left -= len(chunk)
                    yield chunk
            else:
                while chunk := await self._reader.read(65536):
                    yield chunk
        except OSError as error:
            raise httpx.ReadError(f"{type(error).__name__}: {error}", request=self._request) from None

    async def _chunks(self) -> AsyncIterator[bytes]:
        try:
            while True:
                line = await self._reader.readuntil(b"\r\n")
                size_text = line.split(b";", 1)[0].strip()
                try:
                    size = int(size_text, 16)
                except ValueError:
                    raise httpx.RemoteProtocolError(f"bad chunk size {size_text[:20]!r}",
                                                    request=self._request) from None
                if size == 0:
                    while await self._reader.readuntil(b"\r\n") != b"\r\n":  # trailers, ignored
                        pass
                    return
                chunk = await self._reader.readexactly(size + 2)
                if chunk[-2:] != b"\r\n":
                    raise httpx.RemoteProtocolError("chunk not followed by CRLF", request=self._request)
                yield chunk[:-2]
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            raise httpx.RemoteProtocolError("chunked body cut short or malformed", request=self._request) from None

    async def aclose(self) -> None:
        self._writer.close()
