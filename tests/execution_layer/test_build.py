"""The build command, run on a copy of the tabular model against the shipped SRS."""

from __future__ import annotations

import json
import shutil

import numpy as np

from execution_layer import CircuitRegistry, default_models_dir
from execution_layer._manifest import Manifest
from execution_layer.build import calibration_inputs
from execution_layer.build import main as build_main
from models.metadata import InputSpec
from models.sampling import Sampler

MODELS = default_models_dir()


def test_calibration_data_spans_the_whole_range_including_extremes():
    spec = InputSpec(shape=(1, 4), low=-2.0, high=3.0, noise_std=0.5)
    rows = calibration_inputs(Sampler(spec, np.zeros((5, 1, 4))), np.random.default_rng(0), draws=10)
    assert rows.shape[1] == 4
    assert rows.min() == -2.0 and rows.max() == 3.0
    assert any((row == -2.0).all() for row in rows) and any((row == 3.0).all() for row in rows)


def test_build_writes_a_loadable_pinned_circuit(tmp_path):
    """Also: the origin stated with --srs-origin lands in the manifest and on the Circuit (the copied
    SRS is declared a ceremony one here only to see the flag through; it changes no artifact)."""
    models = tmp_path / "models"
    shutil.copytree(MODELS / "srs", models / "srs")
    folder = models / "wine_mlp"
    folder.mkdir()
    for name in ("model.onnx", "metadata.json", "samples.npy"):
        shutil.copy(MODELS / "wine_mlp" / name, folder / name)
    assert build_main([str(folder), "--srs-origin", "ceremony"]) == 0
    manifest = Manifest.read(folder / "manifest.json")
    settings = json.loads((folder / "settings.json").read_text())
    assert settings["run_args"]["decomp_base"] == 512 and settings["run_args"]["decomp_legs"] == 4
    assert settings["run_args"]["logrows"] == manifest.srs.logrows == 11
    circuit = CircuitRegistry.load(models).by_name("wine_mlp")
    assert circuit.id == manifest.circuit_id
    assert manifest.srs.origin == circuit.srs_origin == "ceremony"
    # The data pins and the SRS pin are the shipped ones: the build hashed the same files.
    shipped = Manifest.read(MODELS / "wine_mlp" / "manifest.json")
    assert manifest.data == shipped.data and manifest.srs.sha256 == shipped.srs.sha256


def test_a_metadata_json_that_does_not_parse_fails_before_building(tmp_path, capsys):
    folder = tmp_path / "models" / "wine_mlp"
    folder.mkdir(parents=True)
    for name in ("model.onnx", "samples.npy"):
        shutil.copy(MODELS / "wine_mlp" / name, folder / name)
    doc = json.loads((MODELS / "wine_mlp" / "metadata.json").read_text())
    doc["input"]["shape"] = [1, 12]  # samples.npy rows hold 13 values
    (folder / "metadata.json").write_text(json.dumps(doc))
    assert build_main([str(folder)]) == 1
    assert "13 values per row, the input spec 12" in capsys.readouterr().err
    assert not (tmp_path / "models" / "srs").exists() and not (folder / "settings.json").exists()


def test_a_ceremony_srs_that_is_not_there_fails_before_building(tmp_path, capsys):
    """Generating an SRS makes a self-generated one, never a ceremony one: the build refuses at once."""
    folder = tmp_path / "models" / "wine_mlp"
    folder.mkdir(parents=True)
    for name in ("model.onnx", "metadata.json", "samples.npy"):
        shutil.copy(MODELS / "wine_mlp" / name, folder / name)
    assert build_main([str(folder), "--srs-origin", "ceremony"]) == 1
    assert "put the public ceremony SRS there first" in capsys.readouterr().err
    assert not (tmp_path / "models" / "srs").exists() and not (folder / "manifest.json").exists()
