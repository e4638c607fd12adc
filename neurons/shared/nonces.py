"""Nonces for ``btauth/1`` signatures, from an injected clock.

Both sides sign (the validator its requests, the miner its responses); each
keeps one :class:`NonceClock`, so two messages signed in the same clock tick
never share a nonce.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

__all__ = ["NonceClock"]


class NonceClock:
    """Nanosecond nonces from ``clock`` (unix seconds), strictly increasing per instance."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._last = 0
        self._lock = threading.Lock()

    def __call__(self) -> int:
        with self._lock:
            self._last = max(int(self._clock() * 1e9), self._last + 1)
            return self._last
