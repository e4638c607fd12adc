"""Default model: a small CNN classifying scikit-learn's 8x8 handwritten digits.

Input: one image, shape (1, 1, 8, 8), pixel intensities scaled to [0, 1].
Output: 10 logits. ``train.py`` rebuilds ``model.onnx`` reproducibly.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from models.sampling import InputSpec, sample_near

__all__ = ["NAME", "SPEC", "sample_inputs"]

NAME = "digits_cnn"
FOLDER = Path(__file__).resolve().parent
SPEC = InputSpec(shape=(1, 1, 8, 8), low=0.0, high=1.0, noise_std=0.05)


def sample_inputs(rng: np.random.Generator) -> np.ndarray:
    """A fresh input: a held-out digit plus noise, clipped to [0, 1]."""
    return sample_near(np.load(FOLDER / "samples.npy"), SPEC, rng)
