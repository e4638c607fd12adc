"""The build command, run on a copy of the tabular model against the shipped SRS."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from execution_layer import (
    BuildFailed,
    CalibrationFailed,
    CircuitTooSlow,
    CircuitRegistry,
    ExecutionError,
    FidelityMissed,
    ProvingFailed,
    UnsupportedOp,
    _ezkl,
    timeouts,
)
from execution_layer._manifest import Manifest
from execution_layer.build import (
    LOGROWS_CAP,
    REFERENCE_FACTOR,
    SUPPORTED_OPSETS,
    build,
    calibration_inputs,
    check_opset,
)
from execution_layer.build import main as build_main
from execution_layer.timeouts import timeout_for
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
    SRS is declared a ceremony one here only to see the flag through; it changes no artifact); the
    circuit is at the size calibration chose, on that size's SRS file; what the build measured (error
    within 1.5x of bare ezkl's, proving time) is in the manifest and gives the circuit's timeout."""
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
    assert manifest.srs.file == f"kzg{manifest.srs.logrows}.srs" and settings["run_args"]["logrows"] == manifest.srs.logrows
    circuit = CircuitRegistry.load(models).by_name("wine_mlp")
    assert circuit.id == manifest.circuit_id
    assert manifest.srs.origin == circuit.srs_origin == "ceremony"
    measured = manifest.measured
    assert measured.reference_error is not None and measured.reference_error > 0
    assert measured.max_error_target == pytest.approx(REFERENCE_FACTOR * measured.reference_error)
    assert 0 <= measured.max_error <= measured.max_error_target
    assert measured.prove_s > 0 and measured.prove_cpu_s > 0 and circuit.timeout_s == timeout_for(measured)
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


def test_a_ceremony_srs_that_is_not_there_is_refused_and_generating_one_never_counts_as_ceremony(tmp_path, capsys):
    """Tried: --srs-origin ceremony with no SRS file; then with --gen-srs. Holds: both refused, the folder as
    it was, no SRS made (a generated SRS is self-generated, never a ceremony one)."""
    folder = tmp_path / "models" / "wine_mlp"
    folder.mkdir(parents=True)
    for name in ("model.onnx", "metadata.json", "samples.npy"):
        shutil.copy(MODELS / "wine_mlp" / name, folder / name)
    before = _snapshot(folder)
    assert build_main([str(folder), "--srs-origin", "ceremony", "--gen-srs"]) == 1
    assert "--gen-srs makes a self-generated SRS, never a ceremony one" in capsys.readouterr().err
    assert build_main([str(folder), "--srs-origin", "ceremony", "--max-error", "1"]) == 1
    assert "put the public ceremony SRS of that size there" in capsys.readouterr().err
    assert not (tmp_path / "models" / "srs").exists() and _snapshot(folder) == before


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
        build(folder, tmp_path / "srs")
    assert (err.value.op, err.value.node) == ("Mish", "act_1")
    assert "ezkl cannot build operator Mish (node 'act_1')" in str(err.value)


def test_a_calibration_failure_says_what_to_try_and_leaves_the_folder_as_it_was(tmp_path, capsys):
    """exp over [-1e4, 1e4] fits no lookup table. The folder holds a previous build's files: a failed
    rebuild must not overwrite settings.json (ezkl's gen_settings writes it before calibrating)."""
    folder = model_folder(tmp_path / "models", "exploding", gemm_then("Exp"), low=-1e4, high=1e4)
    for name in ("settings.json", "manifest.json", "model.compiled", "vk.key"):
        (folder / name).write_text(f"the previous build's {name}")
    before = _snapshot(folder)
    assert build_main([str(folder), "--max-error", "1"]) == 1
    err = capsys.readouterr().err
    assert "calibrate_settings: calibration found no settings that fit the model over its input range" in err
    assert "--scales 4,6,8" in err and "input.low/input.high" in err and f"{LOGROWS_CAP} logrows" in err
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
    """Tried: a folder of SRS files without the size the circuit needs. Holds: refused naming kzg<k>.srs
    and both ways to get it; nothing generated, the model folder untouched."""
    folder = model_folder(tmp_path / "models", "tiny", gemm_then())
    before = _snapshot(folder)
    nowhere = tmp_path / "nowhere"
    assert build_main([str(folder), "--srs-dir", str(nowhere)]) == 1
    err = capsys.readouterr().err
    assert re.search(rf"tiny needs logrows \d+ and there is no SRS at {re.escape(str(nowhere))}/kzg\d+\.srs", err)
    assert "--srs-origin ceremony" in err and "--gen-srs" in err
    assert not nowhere.exists() and _snapshot(folder) == before
    assert build_main([str(folder)]) == 1  # the default folder too: generating is only ever asked for
    assert f"there is no SRS at {tmp_path / 'models' / 'srs'}/kzg" in capsys.readouterr().err


def test_gen_srs_generates_the_srs_of_the_size_calibration_chose_and_logrows_pins_a_size(tmp_path):
    """Tried: a build with --gen-srs into an empty SRS folder, then again pinned one size larger.
    Holds: each SRS file is kzg<k>.srs of exactly the circuit's k, recorded in the manifest."""
    folder = model_folder(tmp_path / "models", "tiny", gemm_then())
    made = tmp_path / "made"
    assert build_main([str(folder), "--srs-dir", str(made), "--gen-srs"]) == 0
    natural = Manifest.read(folder / "manifest.json").srs
    assert natural.file == f"kzg{natural.logrows}.srs" and _ezkl.srs_logrows(made / natural.file) == natural.logrows
    assert natural.origin == "self-generated"
    assert build_main([str(folder), "--srs-dir", str(made), "--gen-srs", "--logrows", str(natural.logrows + 1)]) == 0
    pinned = Manifest.read(folder / "manifest.json").srs
    assert pinned.logrows == natural.logrows + 1 and _ezkl.srs_logrows(made / pinned.file) == pinned.logrows
    settings = json.loads((folder / "settings.json").read_text())
    assert settings["run_args"]["logrows"] == pinned.logrows


def test_an_error_target_no_scale_meets_is_refused_naming_each_scales_error(tmp_path, capsys):
    """Tried: a target far below what fixed-point arithmetic can give. Holds: FidelityMissed naming every
    candidate scale with its error and what to try; the folder as it was."""
    folder = model_folder(tmp_path / "models", "tiny", gemm_then())
    before = _snapshot(folder)
    with pytest.raises(FidelityMissed) as err:
        build(folder, tmp_path / "srs", scales=[2, 3], max_error=1e-12, generate_srs=True)
    message = str(err.value)
    assert "no candidate scale meets the error target 1e-12" in message
    assert re.search(r"scale 2: error [0-9.e+-]+ at logrows \d+; scale 3: error", message)
    assert "--scales" in message and "--max-error" in message
    assert _snapshot(folder) == before and _no_work_folders_left(folder.parent)


def test_a_circuit_too_slow_for_the_timeout_rule_is_refused_with_the_numbers(tmp_path, monkeypatch):
    """Tried: the rule's ceiling lowered below any circuit's timeout. Holds: CircuitTooSlow, naming the
    proving time, the timeout and the ceiling; no manifest written."""
    monkeypatch.setattr(timeouts, "CEILING_S", 1.0)
    folder = model_folder(tmp_path / "models", "tiny", gemm_then())
    with pytest.raises(CircuitTooSlow, match=r"CPU-seconds .* its timeout would be 10 s, over the 1 s a circuit may take"):
        build(folder, tmp_path / "srs", max_error=1.0, generate_srs=True)
    assert not (folder / "manifest.json").exists()


def test_a_folder_not_named_as_its_metadata_names_the_model_is_refused_with_the_fix(tmp_path, capsys):
    folder = model_folder(tmp_path / "models", "tiny", gemm_then())
    copy = folder.rename(folder.parent / "tiny_copy")
    assert build_main([str(copy)]) == 1
    assert "names the model 'tiny' but the folder is 'tiny_copy': set \"name\": \"tiny_copy\" in metadata.json" in (
        capsys.readouterr().err)
