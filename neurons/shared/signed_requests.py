"""What a signed HTTP request's signature covers, read the same way by every server of ours.

The miner (checking validators) and the validator's API (checking clients) both verify
``bittensor.http_auth`` signatures over the request target; both read it here, so the two
can never disagree on what was signed.
"""

from __future__ import annotations

from starlette.requests import Request

__all__ = ["request_target"]


def request_target(request: Request) -> str:
    """The request target as the client signed it: raw path plus ``?query`` when present."""
    raw = request.scope.get("raw_path")
    path = raw.decode("latin-1") if raw else request.url.path
    path = path.split("?", 1)[0]
    query = request.scope.get("query_string", b"")
    return f"{path}?{query.decode('latin-1')}" if query else path
