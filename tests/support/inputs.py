"""Fresh inputs for real circuits, drawn as the validator draws them."""

from __future__ import annotations

import numpy as np

from models.sampling import Sampler

__all__ = ["fresh_input"]


def fresh_input(circuit, rng: np.random.Generator) -> np.ndarray:
    """One input for ``circuit`` (an ``execution_layer.Circuit``): ``models.sampling`` over its pinned
    samples and metadata.json spec, drawn with ``rng``."""
    return Sampler.load(circuit.samples_path, circuit.spec).draw(rng)
