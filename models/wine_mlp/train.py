"""Train the wine MLP and export it: ``python -m models.wine_mlp.train``.

Reproducible: fixed seeds, deterministic torch, single thread. Inputs are
standardised with the training split's statistics and clipped to the input
range. Writes ``model.onnx``, ``samples.npy`` (held-out rows, standardised),
``scaler.json`` (mean/std to standardise raw measurements) and
``metadata.json`` next to this file. Afterwards rebuild the circuit:
``python -m execution_layer.build models/wine_mlp``.
"""

from __future__ import annotations

import json

import numpy as np

from models import _training
from models.wine_mlp import FOLDER, NAME, SPEC

SEED = 11
HIDDEN = 16
CALIBRATION_SCALES = [12]


def build_model():
    import torch.nn as nn

    return nn.Sequential(nn.Linear(13, HIDDEN), nn.ReLU(), nn.Linear(HIDDEN, 3))


def main() -> None:
    from sklearn.datasets import load_wine
    from sklearn.model_selection import train_test_split

    _training.seed_everything(SEED)
    x, y = load_wine(return_X_y=True)
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=0.3, random_state=SEED, stratify=y
    )
    mean, std = x_train.mean(0), x_train.std(0)

    def standardise(a):
        return np.clip((a - mean) / std, SPEC.low, SPEC.high).astype(np.float32)

    x_train, x_test = standardise(x_train), standardise(x_test)
    model = _training.fit(build_model(), x_train, y_train, epochs=200, lr=0.01, batch=16, seed=SEED)
    acc = _training.accuracy(model, x_test, y_test)
    print(f"{NAME}: held-out accuracy {acc:.4f} on {len(y_test)} rows")
    _training.export(
        model,
        FOLDER,
        spec=SPEC,
        name=NAME,
        description="MLP (13-16-3) on scikit-learn's wine data set, standardised inputs",
        timeout_s=10.0,
        held_out_accuracy=acc,
        samples=x_test,
        labels=["class_0", "class_1", "class_2"],
        calibration_scales=CALIBRATION_SCALES,
    )
    scaler = {"mean": mean.round(8).tolist(), "std": std.round(8).tolist()}
    (FOLDER / "scaler.json").write_text(json.dumps(scaler, indent=2) + "\n")


if __name__ == "__main__":
    main()
