"""How long a miner has to prove a circuit: one rule, from the build's measurement.

A timeout is policy, not circuit. The build measures how long the circuit takes to
prove (``Measurement``, written into ``manifest.json``'s ``measured`` section, which
the circuit id does not cover) and this module turns that into the timeout every
validator applies. Changing the rule below changes no file of any circuit: no id, no
pin, no artifact; every validator running the new code applies the new timeouts.

The rule (``timeout_for``)::

    on_minimum = prove_cpu_s / MINIMUM_CORES              # CPU seconds of one proof, spread over the minimum miner
    timeout_s  = max(FLOOR_S, ceil(MARGIN * on_minimum))  # whole seconds

- The measure is CPU time, not wall time: EZKL spreads a proof over every core, so
  its CPU seconds divided by the minimum miner's cores (docs/hardware.md: 2) is what
  that miner's wall time would be with perfect scaling, whatever machine built the
  circuit and however busy it was (a build on a loaded machine measured 3–9 s of wall
  time for a 0.4 s proof; its CPU time moved by a few per cent). Wall time is recorded
  beside it, for people.
- ``MARGIN`` (3×) covers a minimum-hardware miner that is busy with another validator's
  proof, network time and the run-to-run noise of proving (about ±10 % here).
- ``FLOOR_S`` keeps a cheap circuit's timeout clear of network jitter (a 0.4 s proof
  gets 10 s, as the first circuits had).
- ``HEAVY_S``: a circuit whose proof takes longer than this on the minimum miner is
  *heavy*: the README's local subnet and ``setup.sh`` leave heavy circuits out unless
  asked (``--heavy``, ``--all-keys``), so a newcomer's first run stays quick.
- ``CEILING_S``: a validator round waits for its slowest circuit, so a circuit whose
  timeout would exceed it is refused by the build (``too_slow``), with the numbers and
  what to change.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["MINIMUM_CORES", "MARGIN", "FLOOR_S", "CEILING_S", "HEAVY_S", "Measurement", "timeout_for", "too_slow",
           "is_heavy"]

MINIMUM_CORES = 2
MARGIN = 3.0
FLOOR_S = 10.0
CEILING_S = 30.0
HEAVY_S = 2.0


@dataclass(frozen=True)
class Measurement:
    """What the build measured, on the machine that built the circuit.

    ``prove_s``: median wall seconds of one proof (witness and proof, as a miner makes it);
    ``prove_cpu_s``: median CPU seconds of the same proofs (every thread of the process);
    ``cores``: that machine's CPU count; ``max_error``: the circuit's largest absolute
    output error against onnxruntime over the held-out inputs; ``reference_error``: the
    same for bare ezkl (its default settings) on the same model and inputs, or None when
    the author set the target by hand; ``max_error_target``: the target the build met.
    """

    prove_s: float
    prove_cpu_s: float
    cores: int
    max_error: float
    reference_error: float | None
    max_error_target: float

    def __post_init__(self) -> None:
        for name in ("prove_s", "prove_cpu_s"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be > 0, got {value}")
        if self.cores < 1:
            raise ValueError(f"cores must be >= 1, got {self.cores}")
        for name in ("max_error", "max_error_target"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be finite and >= 0, got {value}")

    @property
    def prove_s_on_minimum(self) -> float:
        """The proof's wall seconds on the minimum miner, from its CPU seconds (``MINIMUM_CORES``)."""
        return self.prove_cpu_s / MINIMUM_CORES


def timeout_for(measured: Measurement) -> float:
    """The timeout of a circuit with this measurement (the rule in the module docstring)."""
    return max(FLOOR_S, float(math.ceil(MARGIN * measured.prove_s_on_minimum)))


def too_slow(measured: Measurement) -> str | None:
    """Why a circuit with this measurement cannot be served (its timeout would exceed ``CEILING_S``), or None."""
    timeout = timeout_for(measured)
    if timeout <= CEILING_S:
        return None
    return (f"a proof takes {measured.prove_cpu_s:.1f} CPU-seconds ({measured.prove_s_on_minimum:.1f} s on the "
            f"{MINIMUM_CORES}-core minimum miner), so its timeout "
            f"would be {timeout:.0f} s, over the {CEILING_S:.0f} s a circuit may take "
            f"(at most {CEILING_S / MARGIN:.1f} s of proving on the minimum miner): make the circuit smaller "
            "(a smaller model, or smaller scales: --scales; see docs/custom_circuit_integration.md)")


def is_heavy(measured: Measurement) -> bool:
    """Whether a proof takes longer than ``HEAVY_S`` on the minimum miner."""
    return measured.prove_s_on_minimum > HEAVY_S
