"""The validator's HTTP transport to miners: aiohttp's client, one connection per query.

``MinerClient``'s old transport (``httpx``'s own: httpcore over anyio and h11, both pure
Python) cost the validator about 2.4 ms of CPU per query at a round's concurrency, most of
its CPU outside verification. aiohttp's client parses HTTP in C and costs about 0.45 ms for
the same query (measured side by side against one local server: ``bench/http_clients.py``), so
the validator speaks to miners through it, behind httpx's transport interface: requests and
responses stay ``httpx`` objects, and failures stay httpx's exceptions, so ``MinerClient``
classifies them as before:

- ``httpx.UnsupportedProtocol``: not an ``http`` URL (axons are plain HTTP);
- ``httpx.ConnectError``: no connection (refused, unreachable);
- ``httpx.RemoteProtocolError``: the miner closed the connection before a whole answer, or
  sent something that is not HTTP/1.x, or a head or body aiohttp's parser refuses (bad
  framing, a body cut short, a line over aiohttp's limits);
- ``httpx.ReadError``: the connection failed otherwise (a reset, mid-answer).

One connection per query (``force_close``), sent with ``Connection: close``: a miner is
asked once a round (12 s) and closes idle connections after 5 s, so a kept connection would
not be reused in rounds, and a reused one the miner has just closed would fail a query for
nothing. Bodies are read as sent: nothing is inflated (``auto_decompress=False``: the client
refuses encoded answers itself). Timeouts are the caller's: ``MinerClient`` bounds every
query with ``asyncio.timeout``; a cancelled query closes its connection.

The aiohttp session is made on first use, inside the running event loop, and closed by
:meth:`MinerTransport.aclose`.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator

import aiohttp
import httpx

__all__ = ["MinerTransport"]

# Headers aiohttp writes itself for the request it sends (with force_close, "Connection: close").
_OWN_HEADERS = frozenset({"host", "content-length", "connection", "transfer-encoding"})


class MinerTransport(httpx.AsyncBaseTransport):
    """See the module docstring."""

    def __init__(self) -> None:
        self._session: aiohttp.ClientSession | None = None

    def _open(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                # limit=0: no pool cap of aiohttp's; MinerClient bounds the queries in flight.
                connector=aiohttp.TCPConnector(force_close=True, limit=0),
                auto_decompress=False,
                timeout=aiohttp.ClientTimeout(total=None),
                skip_auto_headers=("User-Agent",),
                trust_env=False,
            )
        return self._session

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        if url.scheme != "http":
            raise httpx.UnsupportedProtocol(f"only http:// is spoken to miners, not {url.scheme}://",
                                            request=request)
        body = await request.aread()
        headers = [(name, value) for name, value in request.headers.multi_items()
                   if name.lower() not in _OWN_HEADERS]
        with _as_httpx_errors(request):
            response = await self._open().request(request.method, str(url), data=body, headers=headers,
                                                  allow_redirects=False)
        return httpx.Response(response.status, headers=list(response.raw_headers), stream=_Body(response, request),
                              request=request, extensions={"http_version": b"HTTP/1.1"})

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


@contextlib.contextmanager
def _as_httpx_errors(request: httpx.Request) -> Iterator[None]:
    """aiohttp's failures, sending or reading, as the httpx exceptions the module docstring lists."""
    try:
        yield
    except aiohttp.ClientConnectorError as error:
        raise httpx.ConnectError(f"{type(error).__name__}: {error}", request=request) from None
    except (aiohttp.ServerDisconnectedError, aiohttp.ClientResponseError, aiohttp.ClientPayloadError) as error:
        raise httpx.RemoteProtocolError(_said(error), request=request) from None
    except aiohttp.ClientError as error:
        raise httpx.ReadError(f"{type(error).__name__}: {error}", request=request) from None


def _said(error: aiohttp.ClientError) -> str:
    """One line on what broke: the miner's hang-up, or what aiohttp's parser refused."""
    if isinstance(error, aiohttp.ServerDisconnectedError):
        return "the miner closed the connection without a whole answer"
    message = getattr(error, "message", "") or str(error)
    return f"{type(error).__name__}: {message}"


class _Body(httpx.AsyncByteStream):
    """A response body as it arrives; closing it closes the connection."""

    def __init__(self, response: aiohttp.ClientResponse, request: httpx.Request) -> None:
        self._response, self._request = response, request

    async def __aiter__(self) -> AsyncIterator[bytes]:
        with _as_httpx_errors(self._request):
            async for chunk in self._response.content.iter_any():
                yield chunk

    async def aclose(self) -> None:
        self._response.close()
