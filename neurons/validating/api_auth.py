"""Who may call the validator's API: hotkeys on an allowlist signing with ``bittensor.http_auth``,
or holders of an API key.

:meth:`ApiAuthenticator.authenticate` decides, from a request's method, target, headers
and body, in order:

1. credentials present — ``Authorization: Bearer KEY`` or the ``btauth/1`` headers
   (``X-Bittensor-Hotkey`` and the rest); neither is :class:`Unauthenticated` naming both
   ways and this validator's hotkey (the receiver a signature must name);
2. an API key — its SHA-256 must be in the key file (``neurons.validating.api_keys``),
   else :class:`Unauthenticated`; a request carrying both ways is judged by the key;
3. a signature — ``bt.http_auth.verify`` exactly as a miner checks a validator (header
   shape, receiver = this validator's hotkey, freshness, signature, then the nonce store:
   a replayed request is refused), any failure :class:`Unauthenticated` naming it; then
   the signer must be on the allowlist (:class:`NotAllowed`, 403). The allowlist is
   checked after the signature, so an unsigned guess does not learn who is on it.

The answer is a :class:`Caller`: ``id`` (``key:NAME`` or ``hotkey:SS58``) is what rate and
concurrency limits count by. Nothing here reads a clock but through ``clock``.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import bittensor as bt
from bittensor.http_auth import HEADER_HOTKEY, AuthError, NonceStore

from neurons.validating.api_keys import ApiKeys

__all__ = [
    "ApiAuthError",
    "Unauthenticated",
    "NotAllowed",
    "AllowlistError",
    "Caller",
    "load_allowlist",
    "ApiAuthenticator",
]

_SS58 = re.compile(r"^[1-9A-HJ-NP-Za-km-z]{46,48}$")


class ApiAuthError(Exception):
    """Root of the API's authentication refusals; messages are safe to send to the caller."""

    status: int = 401


class Unauthenticated(ApiAuthError):
    """No credentials, an unknown key, or a signature that does not check out (401)."""

    status = 401


class NotAllowed(ApiAuthError):
    """An authentic signature by a hotkey that is not on the allowlist (403)."""

    status = 403


class AllowlistError(Exception):
    """The allowlist cannot be read, or names something that is not a hotkey (start-up)."""


@dataclass(frozen=True)
class Caller:
    """An authenticated caller: ``kind`` is ``key`` or ``hotkey``, ``name`` the key's name or
    the hotkey's ss58 address; ``id`` is both, the unit limits count by."""

    kind: str
    name: str

    @property
    def id(self) -> str:
        return f"{self.kind}:{self.name}"


def load_allowlist(hotkeys: Iterable[str] = (), file: Path | None = None) -> frozenset[str]:
    """The hotkeys of ``--api.allow`` and of ``--api.allow_file`` (one ss58 address a line,
    ``#`` comments). Raises :class:`AllowlistError` naming an entry that is not an ss58 address
    or a file that cannot be read."""
    found = list(hotkeys)
    if file is not None:
        try:
            lines = file.read_text().splitlines()
        except OSError as error:
            raise AllowlistError(f"cannot read the allowlist {file} ({error.strerror or error})") from None
        found += [entry for line in lines if (entry := line.split("#", 1)[0].strip())]
    bad = [h for h in found if not _SS58.match(h)]
    if bad:
        raise AllowlistError(f"not an ss58 hotkey address in the API allowlist: {bad[0]!r}")
    return frozenset(found)


class ApiAuthenticator:
    """The checks of the module docstring for a validator whose hotkey is ``hotkey``.

    ``nonce_store`` must keep nonces for ``max_age + allowed_skew`` seconds (the default
    in-memory store does); ``clock`` is unix seconds.
    """

    def __init__(
        self,
        *,
        hotkey: str,
        allowlist: frozenset[str] = frozenset(),
        keys: ApiKeys | None = None,
        nonce_store: NonceStore | None = None,
        clock: Callable[[], float] = time.time,
        max_age: float = bt.http_auth.DEFAULT_MAX_AGE,
        allowed_skew: float = bt.http_auth.DEFAULT_ALLOWED_SKEW,
    ) -> None:
        self.hotkey = hotkey
        self.allowlist = allowlist
        self.keys = keys if keys is not None else ApiKeys({})
        self._nonces = nonce_store or bt.http_auth.InMemoryNonceStore(
            retention=max(60.0, 2 * (max_age + allowed_skew))
        )
        self._clock = clock
        self._max_age = max_age
        self._allowed_skew = allowed_skew

    @property
    def anyone_may_call(self) -> bool:
        """Whether any caller at all could be admitted (an allowlist or at least one key)."""
        return bool(self.allowlist) or len(self.keys) > 0

    def has_credentials(self, headers: Mapping[str, str]) -> None:
        """Step 1 alone, before the body is read: :class:`Unauthenticated` if neither way is present."""
        if _bearer(headers) is None and not headers.get(HEADER_HOTKEY.lower()) and not headers.get(HEADER_HOTKEY):
            raise Unauthenticated(
                "no credentials: send 'Authorization: Bearer <API key>', or sign the request with "
                f"bittensor.http_auth (X-Bittensor-* headers) for receiver {self.hotkey}"
            )

    def authenticate(self, *, method: str, path: str, headers: Mapping[str, str], body: bytes) -> Caller:
        """The caller of this request, or an :class:`ApiAuthError` leaf (module docstring)."""
        self.has_credentials(headers)
        key = _bearer(headers)
        if key is not None:
            name = self.keys.name_of(key)
            if name is None:
                raise Unauthenticated("unknown API key (revoked, mistyped, or from another validator)")
            return Caller("key", name)
        try:
            caller = bt.http_auth.verify(
                headers, body, method=method, path=path, self_hotkey_ss58=self.hotkey,
                max_age=self._max_age, allowed_skew=self._allowed_skew, require_receiver=True,
                nonce_store=self._nonces, now_ns=int(self._clock() * 1e9),
            )
        except AuthError as error:
            raise Unauthenticated(f"{type(error).__name__}: {error}") from None
        if caller.hotkey_ss58 not in self.allowlist:
            raise NotAllowed(f"hotkey {caller.hotkey_ss58} is not on this validator's API allowlist (--api.allow)")
        return Caller("hotkey", caller.hotkey_ss58)


def _bearer(headers: Mapping[str, str]) -> str | None:
    value = headers.get("authorization") or headers.get("Authorization")
    if not value:
        return None
    scheme, _, token = value.partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None
