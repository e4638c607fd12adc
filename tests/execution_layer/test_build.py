"""The build command, run on a copy of the tabular model against the shipped SRS."""

from __future__ import annotations

import json
import shutil

import numpy as np

from execution_layer import CircuitRegistry, default_models_dir
from execution_layer.build import calibration_inputs, main as build_main
from models.sampling import InputSpec

MODELS = default_models_dir()


def test_calibration_data_spans_the_whole_range_including_extremes():
    spec = InputSpec(shape=(1, 4), low=-2.0, high=3.0, noise_std=0.5)
    samples = np.zeros((5, 1, 4), dtype=np.float32)
    rows = calibration_inputs(samples, spec, np.random.default_rng(0), draws=10)
    assert rows.shape[1] == 4
    assert rows.min() == -2.0 and rows.max() == 3.0
    assert any((row == -2.0).all() for row in rows) and any((row == 3.0).all() for row in rows)


def test_build_writes_a_loadable_pinned_circuit(tmp_path):
    models = tmp_path / "models"
    shutil.copytree(MODELS / "srs", models / "srs")
    folder = models / "wine_mlp"
    folder.mkdir()
    for name in ("model.onnx", "metadata.json", "samples.npy"):
        shutil.copy(MODELS / "wine_mlp" / name, folder / name)
    assert build_main([str(folder)]) == 0
    manifest = json.loads((folder / "manifest.json").read_text())
    settings = json.loads((folder / "settings.json").read_text())
    assert settings["run_args"]["decomp_base"] == 512 and settings["run_args"]["decomp_legs"] == 4
    assert settings["run_args"]["logrows"] == manifest["srs"]["logrows"] == 11
    circuit = CircuitRegistry.load(models).by_name("wine_mlp")
    assert circuit.id == manifest["circuit_id"]
