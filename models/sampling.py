"""Input samplers shared by every model: a real sample plus noise, clipped.

A validator must send inputs a miner cannot predict or precompute, yet inputs
the model was built for. ``sample_near`` picks one of the model's held-out
samples at random, adds Gaussian noise and clips the result to the declared
value range, so every draw is fresh and always inside the range the circuit
was calibrated over.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["InputSpec", "sample_near"]


@dataclass(frozen=True)
class InputSpec:
    """Shape, dtype and closed value range ``[low, high]`` of a model's one input."""

    shape: tuple[int, ...]
    low: float
    high: float
    noise_std: float
    dtype: str = "float32"

    def to_json(self) -> dict:
        return {
            "shape": list(self.shape),
            "dtype": self.dtype,
            "low": self.low,
            "high": self.high,
            "noise_std": self.noise_std,
        }

    @classmethod
    def from_json(cls, data: dict) -> "InputSpec":
        return cls(
            shape=tuple(int(d) for d in data["shape"]),
            low=float(data["low"]),
            high=float(data["high"]),
            noise_std=float(data["noise_std"]),
            dtype=str(data.get("dtype", "float32")),
        )


def sample_near(samples: np.ndarray, spec: InputSpec, rng: np.random.Generator) -> np.ndarray:
    """Return one fresh input of ``spec.shape`` (float32) drawn with ``rng``.

    Pass an ``rng`` seeded from OS entropy (``np.random.default_rng()``) in
    production; seeded generators are for tests. ``samples`` is an array of real inputs, one per row (any trailing shape
    whose size equals the input's). The result is a uniformly chosen row plus
    N(0, noise_std) noise per element, clipped to ``[low, high]``.
    """
    if len(samples) == 0:
        raise ValueError("no samples to draw from")
    row = np.asarray(samples[rng.integers(len(samples))], dtype=np.float64)
    noisy = row.reshape(spec.shape) + rng.normal(0.0, spec.noise_std, size=spec.shape)
    return np.clip(noisy, spec.low, spec.high).astype(np.float32)
