"""Input samplers shared by every model: a real sample plus noise, clipped.

A validator must send inputs a miner cannot predict or precompute, yet inputs
the model was built for. ``sample_near`` picks one of the model's held-out
samples at random, adds Gaussian noise and clips the result to the declared
value range, so every draw is fresh and always inside the range the circuit
was calibrated over. ``Sampler`` is that draw bound to one model's pool
(``samples.npy``) and spec (``metadata.json``'s ``input``).

Sampling is data, not code: every model is sampled this way, from two files
its manifest pins. There is no per-model sampler hook, because code in a
model folder is pinned by nothing (a validator would run whatever is there)
and the build calibrates the circuit over ``sample_near``'s draws, not over a
hook's.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from models.metadata import InputSpec, ModelError

__all__ = ["Sampler", "sample_near"]


def sample_near(samples: np.ndarray, spec: InputSpec, rng: np.random.Generator) -> np.ndarray:
    """Return one fresh input of ``spec.shape`` (float32) drawn with ``rng``.

    Pass an ``rng`` seeded from OS entropy (``np.random.default_rng()``) in
    production; seeded generators are for tests. ``samples`` is an array of
    real inputs, one per row (any trailing shape whose size equals the
    input's). The result is a uniformly chosen row plus N(0, noise_std) noise
    per element, clipped to ``[low, high]``.
    """
    if len(samples) == 0:
        raise ValueError("no samples to draw from")
    row = np.asarray(samples[rng.integers(len(samples))], dtype=np.float64)
    noisy = row.reshape(spec.shape) + rng.normal(0.0, spec.noise_std, size=spec.shape)
    return np.clip(noisy, spec.low, spec.high).astype(np.float32)


@dataclass(frozen=True, eq=False)
class Sampler:
    """Fresh inputs for one model: ``sample_near`` over its held-out samples.

    Construction checks the pool against the spec and raises ModelError unless
    it holds at least one row, every row has ``spec.size`` values, and every
    value is finite and inside ``[spec.low, spec.high]``. The pool is kept as
    a read-only float32 array of shape ``(rows, *spec.shape)``.
    """

    spec: InputSpec
    samples: np.ndarray

    def __post_init__(self) -> None:
        pool = np.array(self.samples, dtype=np.float32)  # a copy: nobody else can change it
        if pool.ndim < 1 or len(pool) == 0:
            raise ModelError("the sample pool is empty")
        if pool[0].size != self.spec.size:
            raise ModelError(f"samples hold {pool[0].size} values per row, the input spec {self.spec.size} "
                             f"{list(self.spec.shape)}")
        if not np.all(np.isfinite(pool)) or pool.min() < self.spec.low or pool.max() > self.spec.high:
            raise ModelError(f"samples must be finite and lie in [{self.spec.low}, {self.spec.high}]")
        pool = pool.reshape((len(pool), *self.spec.shape))
        pool.flags.writeable = False
        object.__setattr__(self, "samples", pool)

    @classmethod
    def load(cls, samples_path: Path, spec: InputSpec) -> Sampler:
        """The sampler over the ``.npy`` pool at ``samples_path``; ModelError naming it if unusable."""
        try:
            samples = np.load(samples_path, allow_pickle=False)
        except (OSError, ValueError) as e:
            raise ModelError(f"{samples_path}: cannot read the sample pool ({e})") from None
        try:
            return cls(spec, samples)
        except ModelError as e:
            raise ModelError(f"{samples_path}: {e}") from None

    def draw(self, rng: np.random.Generator) -> np.ndarray:
        """One fresh float32 input of ``spec.shape`` inside the spec's range (see ``sample_near``)."""
        return sample_near(self.samples, self.spec, rng)
