"""Train the digits CNN and export it: ``python -m models.digits_cnn.train``.

Reproducible: fixed seeds, deterministic torch, single thread. Writes
``model.onnx``, ``samples.npy`` (the held-out images, the sampler's pool) and
``metadata.json`` (with the held-out accuracy) next to this file. Afterwards
rebuild the circuit: ``python -m execution_layer.build models/digits_cnn``.
"""

from __future__ import annotations

import numpy as np

from models import _training
from models.digits_cnn import FOLDER, NAME, SPEC

SEED = 7
CHANNELS = 2
# Scale 10 keeps the circuit under 2,048 rows (logrows 11); scale 11-12 needs logrows 12.
CALIBRATION_SCALES = [10]


def build_model():
    import torch.nn as nn

    return nn.Sequential(
        nn.Conv2d(1, CHANNELS, kernel_size=3, stride=2, padding=1),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(CHANNELS * 4 * 4, 10),
    )


def main() -> None:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    _training.seed_everything(SEED)
    x, y = load_digits(return_X_y=True)
    x = (x / 16.0).reshape(-1, 1, 8, 8).astype(np.float32)
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=0.2, random_state=SEED, stratify=y
    )
    model = _training.fit(build_model(), x_train, y_train, epochs=60, lr=0.01, batch=32, seed=SEED)
    acc = _training.accuracy(model, x_test, y_test)
    print(f"{NAME}: held-out accuracy {acc:.4f} on {len(y_test)} images")
    _training.export(
        model,
        FOLDER,
        spec=SPEC,
        name=NAME,
        description=f"{CHANNELS}-channel strided CNN on scikit-learn's 8x8 handwritten digits (0-9)",
        timeout_s=10.0,
        held_out_accuracy=acc,
        samples=x_test,
        labels=[str(d) for d in range(10)],
        calibration_scales=CALIBRATION_SCALES,
    )


if __name__ == "__main__":
    main()
