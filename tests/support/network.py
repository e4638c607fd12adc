"""The network between a validator and its miners, in process: requests routed by address."""

from __future__ import annotations

import httpx

__all__ = ["RoutingTransport"]


class RoutingTransport(httpx.AsyncBaseTransport):
    """Sends each request to the transport registered for its ``ip:port``.

    An address with no transport is a connection error, as a dead axon is.
    ``seen`` lists the addresses asked, in order; ``asked`` the (address, path) of each request.
    """

    def __init__(self, routes: dict[tuple[str, int], httpx.AsyncBaseTransport] | None = None) -> None:
        self.routes = dict(routes or {})
        self.seen: list[tuple[str, int]] = []
        self.asked: list[tuple[tuple[str, int], str]] = []

    def seen_on(self, path: str) -> list[tuple[str, int]]:
        """The addresses asked on ``path`` (e.g. ``ROUTE_PROVE``), in order."""
        return [address for address, asked_path in self.asked if asked_path == path]

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        address = (request.url.host, request.url.port or 80)
        self.seen.append(address)
        self.asked.append((address, request.url.path))
        target = self.routes.get(address)
        if target is None:
            raise httpx.ConnectError(f"connection refused at {address[0]}:{address[1]}", request=request)
        return await target.handle_async_request(request)
