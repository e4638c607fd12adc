"""Per-caller limits of the validator's API: a request rate and requests at once.

:meth:`CallerLimits.admit` is a token bucket per caller id: ``burst`` requests at once
from a full bucket, refilled at ``per_minute`` a minute; an empty bucket is refused with
the seconds until the next token (the answer's ``Retry-After``). Then at most
``max_concurrent`` of the caller's requests may be in the API at once; one more is
refused with a retry after one second. A refused request takes no token and no slot.
Only authenticated callers are counted, so the table is bounded by the allowlist and the
key file. Use it from one event loop; ``clock`` is monotonic seconds.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

__all__ = ["LimitsConfig", "Refusal", "CallerLimits"]


@dataclass(frozen=True)
class LimitsConfig:
    """``per_minute`` requests a minute, bursts of ``burst``, ``max_concurrent`` at once, per caller."""

    per_minute: float = 60.0
    burst: int = 10
    max_concurrent: int = 4

    def __post_init__(self) -> None:
        if self.per_minute <= 0 or self.burst < 1 or self.max_concurrent < 1:
            raise ValueError("per_minute must be positive, burst and max_concurrent at least 1")


@dataclass(frozen=True)
class Refusal:
    """Why a caller's request is refused now, and in how many whole seconds to try again."""

    reason: str
    retry_after_s: int


@dataclass
class _Account:
    tokens: float
    refilled_at: float
    running: int = 0


class CallerLimits:
    """Rate and concurrency per caller id (see the module docstring)."""

    def __init__(self, config: LimitsConfig = LimitsConfig(), *, clock: Callable[[], float] = time.monotonic) -> None:
        self.config = config
        self._clock = clock
        self._accounts: dict[str, _Account] = {}

    @contextlib.contextmanager
    def admit(self, caller_id: str) -> Iterator[Refusal | None]:
        """Yield None and count the request as running for the block, or yield the
        :class:`Refusal` (nothing counted)."""
        refusal = self._take(caller_id)
        if refusal is not None:
            yield refusal
            return
        account = self._accounts[caller_id]
        account.running += 1
        try:
            yield None
        finally:
            account.running -= 1

    def _take(self, caller_id: str) -> Refusal | None:
        c, now = self.config, self._clock()
        account = self._accounts.get(caller_id)
        if account is None:
            account = self._accounts[caller_id] = _Account(float(c.burst), now)
        rate = c.per_minute / 60.0
        account.tokens = min(float(c.burst), account.tokens + (now - account.refilled_at) * rate)
        account.refilled_at = now
        if account.running >= c.max_concurrent:
            return Refusal(f"at most {c.max_concurrent} requests at once per caller; {account.running} running", 1)
        if account.tokens < 1.0:
            wait = (1.0 - account.tokens) / rate
            return Refusal(
                f"rate limit: {c.per_minute:g} requests a minute (bursts of {c.burst}) per caller",
                max(1, math.ceil(wait)),
            )
        account.tokens -= 1.0
        return None
