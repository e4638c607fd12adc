"""How far a compiled circuit's outputs lie from onnxruntime's: the build's fidelity measure.

Two steps, so a caller runs onnxruntime once and measures many circuits of the same
model against it (the build tries several scales; ``bench.circuit_sweep`` several run
args): ``onnx_outputs`` runs the model on the held-out inputs, ``max_output_error``
runs the circuit's witness on the same inputs and returns the worst difference.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import ezkl
import numpy as np

from execution_layer import _ezkl
from execution_layer.types import BuildFailed

__all__ = ["onnx_outputs", "max_output_error"]


def onnx_outputs(onnx_path: Path, inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
    """onnxruntime's first output for each of ``inputs``, flattened to float64 (in the order given).

    Each input must already have the model's input shape (``ModelMetadata.input.shape``);
    it is cast to float32. Raises BuildFailed naming onnxruntime's error when it cannot
    run the model (or an input does not fit it).
    """
    import onnxruntime  # lazily: the miner and validator never need it just to import this module

    try:
        session = onnxruntime.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
        name = session.get_inputs()[0].name
        return [np.asarray(session.run(None, {name: np.asarray(x, dtype=np.float32)})[0], dtype=np.float64).reshape(-1)
                for x in inputs]
    except Exception as e:  # onnxruntime's own exception classes (InvalidGraph, Fail, ...)
        raise BuildFailed(f"onnxruntime cannot run the model, so its outputs cannot be checked: "
                          f"{type(e).__name__}: {str(e)[:300]}") from None


def max_output_error(compiled: Path, settings: Path, inputs: Sequence[np.ndarray], expected: Sequence[np.ndarray],
                     *, work: Path, stage: str = "gen_witness(fidelity)") -> float:
    """The largest absolute difference between the circuit's outputs and ``expected`` over ``inputs``.

    For each input (paired with ``expected`` one for one: a length mismatch is a
    ValueError) it writes ezkl's input JSON into ``work`` (an existing folder; two files
    there are overwritten), runs ``ezkl.gen_witness`` of ``compiled`` (no SRS or key
    needed) and decodes the witness's first output at ``settings``' first output scale
    (``model_output_scales[0]``). An ezkl failure raises BuildFailed("<stage>: ...").
    Returns 0.0 for no inputs. Does not prove: the witness is what a proof would commit to.
    """
    if len(inputs) != len(expected):
        raise ValueError(f"{len(inputs)} inputs but {len(expected)} expected outputs")
    scale = int(json.loads(Path(settings).read_text())["model_output_scales"][0])
    data, witness = Path(work) / "fid_in.json", Path(work) / "fid_w.json"
    worst = 0.0
    for values, want in zip(inputs, expected):
        _ezkl.write_input(data, values)
        _ezkl.call(BuildFailed, stage, ezkl.gen_witness, str(data), str(compiled), str(witness))
        felts = json.loads(witness.read_text())["outputs"][0]
        got = np.array([ezkl.felt_to_float(f, scale) for f in felts], dtype=np.float64)
        worst = max(worst, float(np.max(np.abs(got - np.asarray(want, dtype=np.float64).reshape(-1)))))
    return worst
