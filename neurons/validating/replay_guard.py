"""Replay guard: the validator never issues an input twice and never accepts a proof twice.

Both checks keep SHA-256 digests in a bounded, time-windowed memory: an
entry is forgotten after ``window_s`` seconds or when more than
``max_entries`` newer entries push it out (oldest first). Within those
bounds the guarantees are exact; beyond them, a repeat of a random float
input or a randomised (blinded) SNARK proof is astronomically unlikely.

What is deduplicated, and why:

* inputs, keyed by circuit id and the input values (float64, with shape),
  via ``claim_input`` / ``fresh_input``;
* proofs, keyed by the proof bytes, via ``admit_proof``. Instances are not
  deduplicated on their own: miners given the same input honestly produce
  identical instances, and a replayed instance set is already caught by the
  input binding (its inputs must equal an input we issued, which is never
  issued twice).
"""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict
from typing import Callable, Sequence

import numpy as np

from execution_layer.types import Proof

__all__ = ["ReplayError", "InputsExhausted", "ReplayGuard"]


class ReplayError(Exception):
    """Root of the errors this module raises."""


class InputsExhausted(ReplayError):
    """The input generator kept producing inputs that were already issued."""


class _RecentDigests:
    """Digests seen within ``window_s`` seconds, at most ``max_entries`` of them."""

    def __init__(self, window_s: float, max_entries: int, clock: Callable[[], float]) -> None:
        self._window_s = window_s
        self._max = max_entries
        self._clock = clock
        self._seen: OrderedDict[bytes, float] = OrderedDict()

    def add_if_new(self, digest: bytes) -> bool:
        """Record ``digest``; True if it was not already present (and unexpired)."""
        now = self._clock()
        self._expire(now)
        if digest in self._seen:
            return False
        self._seen[digest] = now
        while len(self._seen) > self._max:
            self._seen.popitem(last=False)
        return True

    def _expire(self, now: float) -> None:
        horizon = now - self._window_s
        while self._seen:
            digest, seen_at = next(iter(self._seen.items()))
            if seen_at > horizon:
                break
            del self._seen[digest]


class ReplayGuard:
    """Remembers recently issued inputs and accepted proofs.

    ``clock`` returns seconds (monotonic by default). Not thread-safe: the
    validator calls it from its event loop only.
    """

    def __init__(
        self,
        *,
        window_s: float = 6 * 3600.0,
        max_entries: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if window_s <= 0 or max_entries <= 0:
            raise ValueError("window_s and max_entries must be positive")
        self._inputs = _RecentDigests(window_s, max_entries, clock)
        self._proofs = _RecentDigests(window_s, max_entries, clock)

    def claim_input(self, circuit_id: str, inputs: Sequence[float] | np.ndarray) -> bool:
        """Record an input about to be issued; False if it was issued recently (do not send it)."""
        return self._inputs.add_if_new(_input_digest(circuit_id, inputs))

    def fresh_input(
        self,
        circuit_id: str,
        generate: Callable[[], Sequence[float] | np.ndarray],
        *,
        attempts: int = 8,
    ) -> Sequence[float] | np.ndarray:
        """Call ``generate`` until it yields an input not issued recently, claim and return it.

        Raises ``InputsExhausted`` after ``attempts`` repeats in a row (a
        generator with too little entropy, e.g. a fixed seed).
        """
        for _ in range(attempts):
            candidate = generate()
            if self.claim_input(circuit_id, candidate):
                return candidate
        raise InputsExhausted(
            f"circuit {circuit_id}: {attempts} generated inputs in a row were already issued; "
            "the input generator is not random enough"
        )

    def admit_proof(self, proof: Proof) -> bool:
        """Record a received proof; False if these proof bytes were seen recently (a replay).

        Call it before verifying, once per response: the first sender of some
        bytes is admitted, every later sender is refused.
        """
        return self._proofs.add_if_new(hashlib.sha256(proof.proof).digest())


def _input_digest(circuit_id: str, inputs: Sequence[float] | np.ndarray) -> bytes:
    arr = np.ascontiguousarray(np.asarray(inputs, dtype=np.float64))
    h = hashlib.sha256()
    h.update(circuit_id.encode())
    h.update(b"\0")
    h.update(repr(arr.shape).encode())
    h.update(b"\0")
    h.update(arr.tobytes())
    return h.digest()
