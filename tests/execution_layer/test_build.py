"""The build command, run on a copy of the tabular model against the shipped SRS."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from execution_layer import (
    BuildFailed,
    CalibrationFailed,
    CircuitRegistry,
    ExecutionError,
    ProvingFailed,
    UnsupportedOp,
    _ezkl,
)
from execution_layer._manifest import Manifest
from execution_layer.build import SUPPORTED_OPSETS, build, calibration_inputs, check_opset
from execution_layer.build import main as build_main
from models.metadata import InputSpec
from models.sampling import Sampler
from tests.support.models import MODELS, SHIPPED
from tests.support.onnx_models import gemm_then, model_folder


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


# --- refusals an author can act on (tiny onnx.helper models: each runs in well under a second) ---


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def _no_work_folders_left(parent: Path) -> bool:
    return not [p for p in parent.iterdir() if p.name.startswith(".")]


def test_an_opset_6_model_is_refused_with_the_supported_range_before_ezkl_runs(tmp_path, capsys):
    """onnxruntime has no Gemm(6) kernel: such a model would build, then crash the validator's fidelity check."""
    import onnxruntime

    folder = model_folder(tmp_path / "models", "old", gemm_then(opset=6))
    with pytest.raises(Exception, match=r"Gemm\(6\)"):  # why 6 is out of range: onnxruntime cannot run it
        onnxruntime.InferenceSession(str(folder / "model.onnx"), providers=["CPUExecutionProvider"])
    before = _snapshot(folder)
    assert build_main([str(folder), "--gen-srs"]) == 1
    err = capsys.readouterr().err
    low, high = SUPPORTED_OPSETS[0], SUPPORTED_OPSETS[-1]
    assert f"the model uses ai.onnx opset 6, the build supports opsets {low} to {high}" in err
    assert "opset_version=17" in err
    assert _snapshot(folder) == before and not (tmp_path / "models" / "srs").exists()


def test_the_shipped_models_opsets_are_supported():
    for name in SHIPPED:
        assert check_opset(MODELS / name / "model.onnx") in SUPPORTED_OPSETS


def test_an_unsupported_op_names_the_op_and_the_node(tmp_path):
    folder = model_folder(tmp_path / "models", "mish", gemm_then("Mish", node_name="act_1"))
    with pytest.raises(UnsupportedOp) as err:
        build(folder, MODELS / "srs" / "kzg11.srs")
    assert (err.value.op, err.value.node) == ("Mish", "act_1")
    assert "ezkl cannot build operator Mish (node 'act_1')" in str(err.value)


def test_a_calibration_failure_says_what_to_try_and_leaves_the_folder_as_it_was(tmp_path, capsys):
    """exp over [-1e4, 1e4] fits no lookup table. The folder holds a previous build's files: a failed
    rebuild must not overwrite settings.json (ezkl's gen_settings writes it before calibrating)."""
    folder = model_folder(tmp_path / "models", "exploding", gemm_then("Exp"), low=-1e4, high=1e4)
    for name in ("settings.json", "manifest.json", "model.compiled", "vk.key"):
        (folder / name).write_text(f"the previous build's {name}")
    before = _snapshot(folder)
    assert build_main([str(folder), "--srs", str(MODELS / "srs" / "kzg11.srs")]) == 1
    err = capsys.readouterr().err
    assert "calibrate_settings: calibration found no settings that fit the model over its input range" in err
    assert "--gen-srs --logrows 14" in err and "--scales 4,6,8" in err and "input.low/input.high" in err
    assert _snapshot(folder) == before and _no_work_folders_left(folder.parent)


def test_calibration_failed_is_a_build_failure_and_proving_errors_are_not_reclassified():
    """The mapping on ezkl's real text (captured from ezkl 23.0.5), and only for build stages."""
    text = ("Failed to calibrate settings: [Uncategorized] calibration failed, could not find any suitable "
            "parameters given the calibration dataset")
    for error, expected in ((BuildFailed, CalibrationFailed), (ProvingFailed, ProvingFailed)):
        with pytest.raises(ExecutionError) as err:
            _ezkl.call(error, "stage", _raise, RuntimeError(text))
        assert type(err.value) is expected


def _raise(error: Exception) -> None:
    raise error


def test_a_missing_srs_is_refused_naming_the_file_and_how_to_get_one(tmp_path, capsys):
    folder = model_folder(tmp_path / "models", "tiny", gemm_then())
    missing = tmp_path / "nowhere" / "kzg11.srs"
    assert build_main([str(folder), "--srs", str(missing)]) == 1
    err = capsys.readouterr().err
    assert f"no SRS at {missing}: fetch the public ceremony SRS" in err and "--gen-srs" in err
    assert not missing.exists() and not missing.parent.exists()
    assert build_main([str(folder)]) == 1  # the default path too: generating is only ever asked for
    assert f"no SRS at {tmp_path / 'models' / 'srs' / 'kzg11.srs'}" in capsys.readouterr().err


def test_gen_srs_generates_the_missing_srs_at_the_path_and_logrows_given(tmp_path, capsys):
    """Stopped at calibration (the exploding model) to keep it quick: the SRS is made before it."""
    folder = model_folder(tmp_path / "models", "exploding", gemm_then("Exp"), low=-1e4, high=1e4)
    srs = tmp_path / "made" / "k10.srs"
    assert build_main([str(folder), "--srs", str(srs), "--gen-srs", "--logrows", "10"]) == 1
    assert "calibration found no settings" in capsys.readouterr().err
    assert srs.is_file() and _ezkl.srs_logrows(srs) == 10


def test_a_folder_not_named_as_its_metadata_names_the_model_is_refused_with_the_fix(tmp_path, capsys):
    folder = model_folder(tmp_path / "models", "tiny", gemm_then())
    copy = folder.rename(folder.parent / "tiny_copy")
    assert build_main([str(copy), "--srs", str(MODELS / "srs" / "kzg11.srs")]) == 1
    assert "names the model 'tiny' but the folder is 'tiny_copy': set \"name\": \"tiny_copy\" in metadata.json" in (
        capsys.readouterr().err)
