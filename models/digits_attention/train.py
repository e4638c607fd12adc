"""Train the digits attention block and export it: ``python -m models.digits_attention.train``.

The image's 8 rows are 8 tokens of 8 features (pixels / 16). The block: a
linear embedding to ``_D`` plus a learned position per row (without it
attention and mean-pooling would not know the rows' order), one single-head
self-attention with its residual, a feed-forward of ``_FF`` ReLU units with its
residual, a mean over the tokens and a linear head to 10 logits. Written as
matmuls rather than ``nn.MultiheadAttention``, whose export ezkl's reader
handles less plainly.

The attention weights are ``relu(q kᵀ / √d) / n`` (n = 8 tokens: "ReLU
attention", Wortsman et al. 2023, "Replacing softmax with ReLU in Vision
Transformers") instead of ``softmax(q kᵀ / √d)``. Why: in a circuit the softmax's
exp is a lookup table over the scores' whole range at the fixed-point scale,
and its division by a data-dependent sum another; measured on this model with
softmax, the circuit needed logrows 17 even at scale 9, where its error against
onnxruntime was 0.148 (bare ezkl's, also at logrows 17: 0.012), so no setting
fit the 10 s proving budget. A ReLU is a comparison: the circuit has no lookups,
and a high scale costs no rows. Each token still mixes the others by weights
that depend on the input, which is what attention is; the block trains as well.

The scores are computed as ``h (W_qᵀ W_k / √d) hᵀ``: the same numbers as
``q kᵀ / √d``, but ``W_qᵀ W_k / √d`` depends on weights only, so ezkl's reader
(tract) folds it into one d x d matrix and the circuit has one projection fewer.
No LayerNorm: its division by a data-dependent standard deviation is costly in
a circuit, and this shallow block trains well without it.

Reproducible run to run on one machine: fixed seeds, deterministic torch,
single thread (another CPU may round differently in the last float bits, see
docs/custom_circuit_integration.md). The model's contract is ``metadata.json``:
its input spec shapes the export. Writes ``model.onnx``, ``samples.npy`` (the
held-out images, the sampler's pool) and ``metadata.json`` (the same, with the
measured held-out accuracy) into ``folder``, by default this package's folder.
Afterwards rebuild the circuit: ``python -m execution_layer.build models/digits_attention``.

Its description states ``_D`` (the model width) and ``_FF``: change them together.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

from models import _training

if TYPE_CHECKING:
    import torch
    from torch import nn

__all__ = ["main"]

_FOLDER = Path(__file__).resolve().parent
_SEED = 7
_TOKENS = 8
_D = 8
_FF = 8


def _build_model() -> nn.Module:
    import torch
    import torch.nn as nn

    class DigitsAttention(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embed = nn.Linear(8, _D)
            self.position = nn.Parameter(torch.zeros(_TOKENS, _D))
            self.q, self.k, self.v = (nn.Linear(_D, _D, bias=False) for _ in range(3))
            self.ff = nn.Sequential(nn.Linear(_D, _FF), nn.ReLU(), nn.Linear(_FF, _D))
            self.head = nn.Linear(_D, 10)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            h = self.embed(x) + self.position                       # (batch, tokens, d)
            bilinear = self.q.weight.T @ self.k.weight / math.sqrt(_D)  # weights only: tract folds it
            scores = h @ bilinear @ h.transpose(1, 2)                 # = q kᵀ / √d
            weights = torch.relu(scores) / _TOKENS                  # ReLU attention (docstring: why not softmax)
            h = h + weights @ self.v(h)                             # attention with its residual
            h = h + self.ff(h)                                      # feed-forward with its residual
            return self.head(h.mean(dim=1))

    return DigitsAttention()


def main(folder: Path = _FOLDER) -> None:
    _training.train_on_digits(_build_model, folder, seed=_SEED, epochs=80)


if __name__ == "__main__":
    _training.run_cli(main, _FOLDER, __doc__)
