"""Helpers the models' ``train.py`` scripts share: seeding, fitting, export.

Only model authors run these (torch is needed); the product path never does.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np

from models.sampling import InputSpec

__all__ = ["seed_everything", "fit", "accuracy", "export"]


def seed_everything(seed: int) -> None:
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)


def fit(model, x: np.ndarray, y: np.ndarray, *, epochs: int, lr: float, batch: int, seed: int):
    """Train ``model`` with Adam and cross-entropy; deterministic for a seed."""
    import torch

    gen = torch.Generator().manual_seed(seed)
    xt = torch.tensor(x, dtype=torch.float32)
    yt = torch.tensor(y, dtype=torch.long)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    loss_fn = torch.nn.CrossEntropyLoss()
    model.train()
    for _ in range(epochs):
        order = torch.randperm(len(xt), generator=gen)
        for i in range(0, len(xt), batch):
            idx = order[i : i + batch]
            opt.zero_grad()
            loss_fn(model(xt[idx]), yt[idx]).backward()
            opt.step()
    model.eval()
    return model


def accuracy(model, x: np.ndarray, y: np.ndarray) -> float:
    import torch

    with torch.no_grad():
        pred = model(torch.tensor(x, dtype=torch.float32)).argmax(1).numpy()
    return float((pred == y).mean())


def export(
    model,
    folder: Path,
    *,
    spec: InputSpec,
    name: str,
    description: str,
    timeout_s: float,
    held_out_accuracy: float,
    samples: np.ndarray,
    labels: list[str],
    calibration_scales: list[int],
) -> None:
    """Write ``model.onnx`` (opset 17, legacy exporter), ``samples.npy`` and ``metadata.json``.

    ``calibration_scales`` are the fixed-point scales the circuit build may try
    (``python -m execution_layer.build`` reads them from metadata.json).
    """
    import torch

    folder = Path(folder)
    dummy = torch.zeros(spec.shape, dtype=torch.float32)
    torch.onnx.export(
        model,
        (dummy,),
        str(folder / "model.onnx"),
        dynamo=False,
        opset_version=17,
        input_names=["input"],
        output_names=["logits"],
    )
    np.save(folder / "samples.npy", np.asarray(samples, dtype=np.float32))
    metadata = {
        "name": name,
        "description": description,
        "timeout_s": timeout_s,
        "held_out_accuracy": round(held_out_accuracy, 4),
        "input": spec.to_json(),
        "labels": labels,
        "calibration_scales": calibration_scales,
    }
    (folder / "metadata.json").write_text(json.dumps(metadata, indent=2) + "\n")
