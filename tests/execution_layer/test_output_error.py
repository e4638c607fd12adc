"""execution_layer.output_error on a tiny Gemm circuit: onnxruntime's outputs, the circuit's witness against them.

Real ezkl and onnxruntime; the circuit is compiled from ezkl's default run args (scale 7)
without calibration or keys, as the witness needs neither.
"""

from __future__ import annotations

import json

import ezkl
import numpy as np
import pytest

from execution_layer.output_error import max_output_error, onnx_outputs
from execution_layer.types import BuildFailed
from tests.support.onnx_models import INPUTS, OUTPUTS, gemm_then, model_folder, unrunnable


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """(onnx path, settings path, compiled path, held-out inputs of shape [1, 4])."""
    folder = model_folder(tmp_path_factory.mktemp("tiny"), "tiny", gemm_then())
    run_args = ezkl.PyRunArgs()
    run_args.output_visibility = "public"  # so the witness carries the outputs
    settings, compiled = folder / "settings.json", folder / "model.compiled"
    assert ezkl.gen_settings(str(folder / "model.onnx"), str(settings), py_run_args=run_args)
    assert ezkl.compile_circuit(str(folder / "model.onnx"), str(compiled), str(settings))
    inputs = [row.reshape(1, INPUTS) for row in np.load(folder / "samples.npy")]
    return folder / "model.onnx", settings, compiled, inputs


def test_onnx_outputs_are_the_models_outputs_flattened_one_per_input(tiny):
    onnx_path, _, _, inputs = tiny
    outputs = onnx_outputs(onnx_path, inputs)
    assert len(outputs) == len(inputs)
    for x, y in zip(inputs, outputs):
        assert y.shape == (OUTPUTS,) and y.dtype == np.float64
        np.testing.assert_allclose(y, np.full(OUTPUTS, 0.5 * x.sum()), rtol=1e-6)  # W is all 0.5, B zero


def test_the_error_is_the_circuits_quantisation_error_and_grows_with_a_shifted_reference(tiny, tmp_path):
    onnx_path, settings, compiled, inputs = tiny
    expected = onnx_outputs(onnx_path, inputs)
    error = max_output_error(compiled, settings, inputs, expected, work=tmp_path)
    scale = json.loads(settings.read_text())["model_output_scales"][0]
    assert 0 < error < 4 * 2.0 ** -scale  # quantised at the output scale: close, but not exact
    shifted = [y + np.array([0.0, 1.0]) for y in expected]  # one output off by 1 in every row
    assert max_output_error(compiled, settings, inputs, shifted, work=tmp_path) == pytest.approx(1.0, abs=4 * 2.0 ** -scale)
    assert max_output_error(compiled, settings, [], [], work=tmp_path) == 0.0


def test_inputs_and_expected_outputs_must_pair_one_for_one(tiny, tmp_path):
    onnx_path, settings, compiled, inputs = tiny
    with pytest.raises(ValueError, match="2 inputs but 1 expected outputs"):
        max_output_error(compiled, settings, inputs[:2], onnx_outputs(onnx_path, inputs[:1]), work=tmp_path)


def test_a_witness_failure_names_the_stage(tiny, tmp_path):
    onnx_path, settings, _, inputs = tiny
    not_compiled = tmp_path / "missing.compiled"
    with pytest.raises(BuildFailed, match=r"^gen_witness\(check\): "):
        max_output_error(not_compiled, settings, inputs[:1], onnx_outputs(onnx_path, inputs[:1]), work=tmp_path,
                         stage="gen_witness(check)")


def test_a_model_onnxruntime_cannot_run_is_refused_saying_why(tmp_path):
    folder = model_folder(tmp_path, "bad", unrunnable())
    with pytest.raises(BuildFailed, match="onnxruntime cannot run the model, so its outputs cannot be checked"):
        onnx_outputs(folder / "model.onnx", [np.zeros((1, INPUTS), np.float32)])
