"""Tiny ONNX model folders made in the test with onnx.helper (for the build's refusals; seconds, not minutes)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from models.metadata import InputSpec, ModelMetadata

__all__ = ["INPUTS", "OUTPUTS", "gemm_then", "with_batch", "two_inputs", "two_outputs", "typed_input",
           "unrunnable", "model_folder"]

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


def with_batch(model: onnx.ModelProto, symbol: str = "batch") -> onnx.ModelProto:
    """``model`` with dim 0 of its input and output named ``symbol`` (a dynamic batch, as exporters write it)."""
    model = onnx.ModelProto.FromString(model.SerializeToString())
    for value in (model.graph.input[0], model.graph.output[0]):
        value.type.tensor_type.shape.dim[0].dim_param = symbol
    return model


def _model(nodes: list[onnx.NodeProto], inputs: list[onnx.ValueInfoProto], outputs: list[onnx.ValueInfoProto],
           opset: int = 17) -> onnx.ModelProto:
    graph = helper.make_graph(nodes, "tiny", inputs, outputs)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    return model


def two_inputs() -> onnx.ModelProto:
    """x[1,4] + z[1,4] -> y[1,4]."""
    values = [helper.make_tensor_value_info(n, TensorProto.FLOAT, [1, INPUTS]) for n in ("x", "z", "y")]
    return _model([helper.make_node("Add", ["x", "z"], ["y"])], values[:2], values[2:])


def two_outputs() -> onnx.ModelProto:
    """x[1,4] -> (Relu(x), Neg(x)), each [1,4]."""
    values = [helper.make_tensor_value_info(n, TensorProto.FLOAT, [1, INPUTS]) for n in ("x", "y", "n")]
    return _model([helper.make_node("Relu", ["x"], ["y"]), helper.make_node("Neg", ["x"], ["n"])],
                  values[:1], values[1:])


def typed_input(elem_type: int) -> onnx.ModelProto:
    """x[1,4] of ``elem_type`` (a TensorProto type such as INT64) cast to float -> y[1,4]."""
    return _model([helper.make_node("Cast", ["x"], ["y"], to=TensorProto.FLOAT)],
                  [helper.make_tensor_value_info("x", elem_type, [1, INPUTS])],
                  [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, INPUTS])])


def unrunnable() -> onnx.ModelProto:
    """x[1,4] -> Reshape to [3,3]: a valid graph onnxruntime cannot run (4 values do not make 9)."""
    shape = numpy_helper.from_array(np.array([3, 3], np.int64), "shape")
    graph = helper.make_graph([helper.make_node("Reshape", ["x", "shape"], ["y"])], "tiny",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, INPUTS])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [3, 3])], [shape])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model


def model_folder(parent: Path, name: str, model: onnx.ModelProto, *, low: float = -1.0, high: float = 1.0) -> Path:
    """``parent/name`` holding ``model.onnx``, a metadata.json (input [1,4] in [low, high]) and samples.npy."""
    folder = parent / name
    folder.mkdir(parents=True)
    onnx.save(model, str(folder / "model.onnx"))
    ModelMetadata(  # through ModelMetadata, as the product writes it, never by hand
        name=name, description="a tiny test model", held_out_accuracy=0.5,
        input=InputSpec(shape=(1, INPUTS), low=low, high=high, noise_std=0.0), labels=(), calibration_scales=(),
    ).write(folder / "metadata.json")
    rng = np.random.default_rng(0)
    np.save(folder / "samples.npy", rng.uniform(low, high, size=(4, INPUTS)).astype(np.float32))
    return folder
