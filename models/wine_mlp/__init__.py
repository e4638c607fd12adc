"""Tabular model: an MLP classifying scikit-learn's wine data set (3 cultivars).

Input: 13 chemical measurements, standardised (z-scores with the training
set's mean and std), shape (1, 13), clipped to [-4, 4]. Output: 3 logits.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from models.sampling import InputSpec, sample_near

__all__ = ["NAME", "SPEC", "sample_inputs"]

NAME = "wine_mlp"
FOLDER = Path(__file__).resolve().parent
SPEC = InputSpec(shape=(1, 13), low=-4.0, high=4.0, noise_std=0.2)


def sample_inputs(rng: np.random.Generator) -> np.ndarray:
    """A fresh input: a held-out wine plus noise, clipped to [-4, 4]."""
    return sample_near(np.load(FOLDER / "samples.npy"), SPEC, rng)
