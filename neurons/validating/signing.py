"""The validator's side of signed HTTP: signing requests, checking who answered.

:func:`sign_request` makes the ``btauth/1`` headers of a request addressed to
one miner's hotkey; :func:`verify_response` checks that the miner asked, and
no one else, signed the exact response bytes, bound to the request's route
and nonce (``protocol.response_target``). The miner's side is
:mod:`neurons.mining.guard`.
"""

from __future__ import annotations

from collections.abc import Mapping

import bittensor as bt
from bittensor.http_auth import AuthError

from protocol import RESPONSE_METHOD, response_target

__all__ = ["ResponseUntrusted", "sign_request", "verify_response"]


class ResponseUntrusted(Exception):
    """A response's signature is missing, invalid, or by another hotkey than asked."""


def sign_request(
    signer: bt.Signer, *, method: str, path: str, body: bytes, receiver: str, nonce_ns: int
) -> dict[str, str]:
    """The ``btauth/1`` headers for a request to ``receiver`` (a thin, typed wrapper)."""
    return bt.http_auth.sign(
        signer, method=method, path=path, body=body, receiver_ss58=receiver, nonce_ns=nonce_ns
    )


class _NoReplayCheck:
    """Responses need no nonce store: binding to the request's fresh nonce already
    makes each valid response unique, and a shared store could only cause false alarms."""

    retention = None

    def check_and_store(self, hotkey_ss58: str, nonce_ns: int) -> bool:
        return True


def verify_response(
    headers: Mapping[str, str],
    body: bytes,
    *,
    route: str,
    request_nonce: int,
    self_hotkey: str,
    expected_hotkey: str,
    now_ns: int,
    max_age: float,
) -> None:
    """Check that ``expected_hotkey`` signed this exact response to our request.

    ``max_age`` should cover the request's timeout; future skew is allowed up to
    the default freshness window, as the miner's clock is not ours.
    Raises :class:`ResponseUntrusted` naming the reason.
    """
    try:
        caller = bt.http_auth.verify(
            headers,
            body,
            method=RESPONSE_METHOD,
            path=response_target(route, request_nonce),
            self_hotkey_ss58=self_hotkey,
            max_age=max_age,
            allowed_skew=bt.http_auth.DEFAULT_MAX_AGE,
            require_receiver=True,
            nonce_store=_NoReplayCheck(),
            now_ns=now_ns,
        )
    except AuthError as exc:
        raise ResponseUntrusted(f"{type(exc).__name__}: {exc}") from None
    if caller.hotkey_ss58 != expected_hotkey:
        raise ResponseUntrusted(
            f"response signed by {caller.hotkey_ss58}, expected the axon's hotkey {expected_hotkey}"
        )
