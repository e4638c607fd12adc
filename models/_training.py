"""Helpers the models' ``train.py`` scripts share: seeding, fitting, export.

Only model authors run these (torch is needed); the product path never does.
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import numpy as np

from models.metadata import METADATA, ModelMetadata
from models.sampling import Sampler

if TYPE_CHECKING:  # torch is imported when training, never by the daemons
    from torch import nn

__all__ = ["seed_everything", "fit", "accuracy", "export", "train_on_digits", "run_cli"]


def seed_everything(seed: int) -> None:
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)


def fit(model: nn.Module, x: np.ndarray, y: np.ndarray, *, epochs: int, lr: float, batch: int, seed: int) -> nn.Module:
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


def accuracy(model: nn.Module, x: np.ndarray, y: np.ndarray) -> float:
    import torch

    with torch.no_grad():
        pred = model(torch.tensor(x, dtype=torch.float32)).argmax(1).numpy()
    return float((pred == y).mean())


def export(model: nn.Module, folder: Path, *, metadata: ModelMetadata, samples: np.ndarray) -> None:
    """Write ``model.onnx`` (opset 17, legacy exporter), ``samples.npy`` and ``metadata.json``.

    ``metadata`` is the folder's own metadata.json with the measured
    ``held_out_accuracy`` filled in; its ``input`` spec gives the export's shape.
    ``samples`` are checked against that spec (``Sampler``: ModelError unless
    every row fits it) before anything is written.
    """
    import torch

    folder = Path(folder)
    Sampler(metadata.input, samples)
    dummy = torch.zeros(metadata.input.shape, dtype=torch.float32)
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
    metadata.write(folder / METADATA)


def train_on_digits(build_model: Callable[[], nn.Module], folder: Path, *, seed: int, epochs: int) -> None:
    """The digits models' whole ``main``: train ``build_model()`` on scikit-learn's 8x8 digits and export it.

    Pixels / 16, shaped as ``folder``'s metadata.json input (rows as a sequence, or one image); a
    stratified 80/20 split by ``seed``; Adam (lr 0.01, batches of 32) for ``epochs``; prints the
    held-out accuracy and writes it, with the model and the held-out images, through ``export``.
    """
    from dataclasses import replace

    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    metadata = ModelMetadata.read(Path(folder) / METADATA)
    seed_everything(seed)
    x, y = load_digits(return_X_y=True)
    x = (x / 16.0).reshape(-1, *metadata.input.shape[1:]).astype(np.float32)
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.2, random_state=seed, stratify=y)
    model = fit(build_model(), x_train, y_train, epochs=epochs, lr=0.01, batch=32, seed=seed)
    acc = accuracy(model, x_test, y_test)
    print(f"{metadata.name}: held-out accuracy {acc:.4f} on {len(y_test)} images")
    export(model, folder, metadata=replace(metadata, held_out_accuracy=round(acc, 4)), samples=x_test)


def run_cli(train: Callable[[Path], None], folder: Path, doc: str | None, argv: list[str] | None = None) -> None:
    """A model's ``train.py`` command line: ``--help``, and ``--folder`` to write elsewhere.

    Training writes model.onnx, samples.npy and metadata.json: into the shipped folder
    that is a new model (the float weights differ from one CPU to another), whose
    circuit must then be rebuilt and pinned again.
    """
    parser = argparse.ArgumentParser(
        prog=f"python -m models.{folder.name}.train", description=(doc or "").split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument(
        "--folder", type=Path, default=folder,
        help="model folder to write model.onnx, samples.npy and metadata.json into (it must hold "
        "metadata.json); writing the shipped folder replaces the model, so rebuild its circuit "
        "afterwards with python -m execution_layer.build",
    )
    train(parser.parse_args(argv).folder)
