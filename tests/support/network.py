"""The network between a validator and its miners, in process: requests routed by address."""

from __future__ import annotations

import httpx

__all__ = ["RoutingTransport"]


class RoutingTransport(httpx.AsyncBaseTransport):
    """Sends each request to the transport registered for its ``ip:port``.

    An address with no transport is a connection error, as a dead axon is.
    ``seen`` lists the addresses asked, in order.
    """

    def __init__(self, routes: dict[tuple[str, int], httpx.AsyncBaseTransport] | None = None) -> None:
        self.routes = dict(routes or {})
        self.seen: list[tuple[str, int]] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        address = (request.url.host, request.url.port or 80)
        self.seen.append(address)
        target = self.routes.get(address)
        if target is None:
            raise httpx.ConnectError(f"connection refused at {address[0]}:{address[1]}", request=request)
        return await target.handle_async_request(request)
