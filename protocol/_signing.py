"""How a response is bound to its request in the ``btauth/1`` signature.

``btauth/1`` signs a method, a target and a body. A request uses its own
method and path. A response is signed with method :data:`RESPONSE_METHOD` and
the target ``"<route>#<request nonce>"``, the nonce exactly as the request's
``X-Bittensor-Nonce`` header carried it (``-`` when it had none), and with the
caller's hotkey as receiver. A validator that checks this knows the answer
comes from the hotkey it asked, was made for this very request, and was not
altered on the way.
"""

from __future__ import annotations

from typing import Final

__all__ = ["RESPONSE_METHOD", "response_target"]

RESPONSE_METHOD: Final = "RESPONSE"


def response_target(route: str, request_nonce: str | int | None) -> str:
    """The signed target of the response to a request on ``route`` with that nonce."""
    nonce = "-" if request_nonce is None or request_nonce == "" else str(request_nonce)
    return f"{route}#{nonce}"
