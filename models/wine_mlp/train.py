"""Train the wine MLP and export it: ``python -m models.wine_mlp.train``.

Reproducible run to run on one machine: fixed seeds, deterministic torch,
single thread (another CPU may round differently in the last float bits, see
docs/custom_circuit_integration.md). The model's contract is ``metadata.json``:
its input spec gives the range inputs are clipped to. Inputs are standardised
with the training split's mean and std (recomputed here from scikit-learn's
data on every run; nothing at run time needs them: validators sample
standardised inputs directly). Writes ``model.onnx``, ``samples.npy``
(held-out rows, standardised) and ``metadata.json`` (the same, with the
measured held-out accuracy) into ``folder``, by default this package's folder.
Afterwards rebuild the circuit: ``python -m execution_layer.build models/wine_mlp``.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from models import _training
from models.metadata import METADATA, ModelMetadata

if TYPE_CHECKING:
    from torch import nn

__all__ = ["main"]

_FOLDER = Path(__file__).resolve().parent
_SEED = 11
_HIDDEN = 16


def _build_model() -> nn.Module:
    import torch.nn as nn

    return nn.Sequential(nn.Linear(13, _HIDDEN), nn.ReLU(), nn.Linear(_HIDDEN, 3))


def main(folder: Path = _FOLDER) -> None:
    from sklearn.datasets import load_wine
    from sklearn.model_selection import train_test_split

    metadata = ModelMetadata.read(folder / METADATA)
    spec = metadata.input
    _training.seed_everything(_SEED)
    x, y = load_wine(return_X_y=True)
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=0.3, random_state=_SEED, stratify=y
    )
    mean, std = x_train.mean(0), x_train.std(0)

    def standardise(a: np.ndarray) -> np.ndarray:
        return np.clip((a - mean) / std, spec.low, spec.high).astype(np.float32)

    x_train, x_test = standardise(x_train), standardise(x_test)
    model = _training.fit(_build_model(), x_train, y_train, epochs=200, lr=0.01, batch=16, seed=_SEED)
    acc = _training.accuracy(model, x_test, y_test)
    print(f"{metadata.name}: held-out accuracy {acc:.4f} on {len(y_test)} rows")
    _training.export(model, folder, metadata=replace(metadata, held_out_accuracy=round(acc, 4)), samples=x_test)


if __name__ == "__main__":
    _training.run_cli(main, _FOLDER, __doc__)
