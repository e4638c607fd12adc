"""Tiny ONNX model folders made in the test with onnx.helper (for the build's refusals; seconds, not minutes)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

__all__ = ["INPUTS", "OUTPUTS", "gemm_then", "model_folder"]

INPUTS, OUTPUTS = 4, 2


def gemm_then(op: str | None = None, *, opset: int = 17, node_name: str = "") -> onnx.ModelProto:
    """x[1,4] -> Gemm -> y[1,2], then ``op`` (a one-input op such as "Exp" or "Mish", node ``node_name``)."""
    weights = numpy_helper.from_array(np.full((INPUTS, OUTPUTS), 0.5, np.float32), "W")
    bias = numpy_helper.from_array(np.zeros(OUTPUTS, np.float32), "B")
    nodes = [helper.make_node("Gemm", ["x", "W", "B"], ["h" if op else "y"], name="gemm")]
    if op:
        nodes.append(helper.make_node(op, ["h"], ["y"], name=node_name))
    graph = helper.make_graph(
        nodes, "tiny", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, INPUTS])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, OUTPUTS])], [weights, bias],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8  # what the installed onnxruntime reads
    return model


def model_folder(parent: Path, name: str, model: onnx.ModelProto, *, low: float = -1.0, high: float = 1.0) -> Path:
    """``parent/name`` holding ``model.onnx``, a metadata.json (input [1,4] in [low, high]) and samples.npy."""
    folder = parent / name
    folder.mkdir(parents=True)
    onnx.save(model, str(folder / "model.onnx"))
    (folder / "metadata.json").write_text(json.dumps({
        "name": name, "description": "a tiny test model", "held_out_accuracy": 0.5,
        "input": {"shape": [1, INPUTS], "dtype": "float32", "low": low, "high": high, "noise_std": 0.0},
        "labels": [], "calibration_scales": [],
    }))
    rng = np.random.default_rng(0)
    np.save(folder / "samples.npy", rng.uniform(low, high, size=(4, INPUTS)).astype(np.float32))
    return folder
