"""Train the digits GRU and export it: ``python -m models.digits_gru.train``.

The image's 8 rows are an 8-step sequence of 8 features (pixels / 16). The cell is a
GRU (update gate z, reset gate r, candidate n, ``h = n + z * (h - n)``) whose gates are
*hard*: ``hardsigmoid(a) = clip(a, -1, 1) / 2 + 1/2`` and ``hardtanh(a) = clip(a, -1, 1)``
instead of sigmoid and tanh. Why: in a circuit a sigmoid or tanh is a lookup table over
the gate's whole pre-activation range at the fixed-point scale (for this model ±14–28
at scale 11: about 100k entries, logrows 17, 1.2 GB keys and minute-long proofs with
torch's ``nn.GRU``), while a clip is two comparisons. With hard gates the circuit has
no lookups, so a high scale (12: outputs within 1e-2 of onnxruntime) costs no rows.
The loop is unrolled in the export (8 steps, fixed), so the ONNX graph is plain
MatMul/Gemm, Clip, Mul and Add.

Reproducible run to run on one machine: fixed seeds, deterministic torch, single
thread (another CPU may round differently in the last float bits, see
docs/custom_circuit_integration.md). The model's contract is ``metadata.json``: its
input spec shapes the export. Writes ``model.onnx``, ``samples.npy`` (the held-out
images, the sampler's pool) and ``metadata.json`` (the same, with the measured
held-out accuracy) into ``folder``, by default this package's folder. Afterwards
rebuild the circuit: ``python -m execution_layer.build models/digits_gru``.

Its description states ``_HIDDEN`` (the number of units): change both together.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from models import _training

if TYPE_CHECKING:
    from torch import nn

__all__ = ["main"]

_FOLDER = Path(__file__).resolve().parent
_SEED = 7
_HIDDEN = 8


def _build_model() -> nn.Module:
    import torch
    from torch import nn

    class HardGRU(nn.Module):
        """A GRU cell with hard gates, unrolled over the sequence; the last state feeds a linear head."""

        def __init__(self, features: int = 8, hidden: int = _HIDDEN, classes: int = 10) -> None:
            super().__init__()
            self.hidden = hidden
            self.x_gates = nn.Linear(features, 3 * hidden)
            self.h_gates = nn.Linear(hidden, 3 * hidden, bias=False)
            self.head = nn.Linear(hidden, classes)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            n_h = self.hidden
            h = torch.zeros(x.shape[0], n_h)
            for t in range(x.shape[1]):
                gx, gh = self.x_gates(x[:, t]), self.h_gates(h)
                z = torch.clamp(gx[:, :n_h] + gh[:, :n_h], -1, 1) * 0.5 + 0.5
                r = torch.clamp(gx[:, n_h:2 * n_h] + gh[:, n_h:2 * n_h], -1, 1) * 0.5 + 0.5
                n = torch.clamp(gx[:, 2 * n_h:] + r * gh[:, 2 * n_h:], -1, 1)
                h = n + z * (h - n)
            return self.head(h)

    return HardGRU()


def main(folder: Path = _FOLDER) -> None:
    _training.train_on_digits(_build_model, folder, seed=_SEED, epochs=80)


if __name__ == "__main__":
    _training.run_cli(main, _FOLDER, __doc__)
