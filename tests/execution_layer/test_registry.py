"""Loading circuits: lookups, and loud failures, one folder at a time, when an artifact or the ezkl
version does not match: the bad folder is named with its reason and the good ones still load.

The corrupted folder is wine_mlp (``VICTIM``) where a test edits what only that model has (its
13-value input); elsewhere the tests follow whatever circuits are shipped."""

from __future__ import annotations

import json
import pickle
import re
from dataclasses import fields, replace
import shutil
from pathlib import Path

import pytest

import execution_layer
from execution_layer import (
    BrokenCircuit,
    CircuitMismatch,
    CircuitNotFound,
    CircuitRegistry,
    CircuitUnavailable,
    ExecutionError,
    ForeignManifest,
    NoCircuitLoads,
    StaleManifest,
    VersionMismatch,
    load_circuit,
)
from execution_layer._manifest import Artifacts, Manifest, sha256_file
from tests.support.models import MODELS, SHIPPED, circuit_folder_names, copy_models, loaded_circuit_names

VICTIM = "wine_mlp"  # the folder corrupted where a test needs that model's own layout (13 inputs)


@pytest.fixture
def models_copy(tmp_path) -> Path:
    """A private copy of the shipped models folder (circuits and SRS) to corrupt."""
    return copy_models(tmp_path / "models")


def broken_one(models_dir: Path, name: str, *, srs_dir: Path | None = None) -> BrokenCircuit:
    """Load ``models_dir``; check ``name`` is its only broken folder and every other shipped circuit
    loaded; return the broken one."""
    registry = CircuitRegistry.load(models_dir, srs_dir=srs_dir)
    assert [b.name for b in registry.broken] == [name]
    assert [c.name for c in registry] == [n for n in SHIPPED if n != name]
    return registry.broken[0]


def test_public_names_are_exported():
    for name in execution_layer.__all__:
        assert hasattr(execution_layer, name), name


def test_every_circuit_folder_shipped_loads_with_distinct_ids(registry):
    """The one test a broken folder under models/ fails, naming it and why: ``SHIPPED``, which the
    other tests follow, holds only the folders that load."""
    assert registry.broken == (), "; ".join(b.warning for b in registry.broken)
    assert [c.name for c in registry] == circuit_folder_names() == list(SHIPPED)
    assert len({c.id for c in registry}) == len(SHIPPED)


def test_registry_lookups(registry):
    # digits_cnn on purpose: it is the default model, and the shapes below are its own.
    assert registry.default.name == "digits_cnn"
    digits = registry.by_name("digits_cnn")
    assert registry.get(digits.id) is digits
    assert digits.id in registry
    assert len(digits.id) == 64 and digits.input_shape == (1, 1, 8, 8)
    assert digits.input_range == (0.0, 1.0) and digits.timeout_s > 0
    assert digits.input_scale == digits.input_scales[0]
    assert digits.model_instance_shapes == ((1, 1, 8, 8), (1, 10))
    with pytest.raises(CircuitNotFound):
        registry.get("0" * 64)
    with pytest.raises(CircuitNotFound, match="have: "):
        registry.by_name("nope")


def test_circuits_and_registry_survive_pickling(registry):
    """Circuits cross process boundaries (the miner's worker pool)."""
    assert pickle.loads(pickle.dumps(registry)) == registry


def test_a_copy_loads_with_the_same_ids(registry, models_copy):
    assert [c.id for c in CircuitRegistry.load(models_copy)] == [c.id for c in registry]


@pytest.mark.parametrize("victim", ["model.onnx", "settings.json", "model.compiled", "vk.key", "samples.npy",
                                    "metadata.json"])
@pytest.mark.parametrize("name", SHIPPED)
def test_a_changed_artifact_breaks_only_its_folder_naming_the_file(models_copy, victim, name):
    path = models_copy / name / victim
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    bad = broken_one(models_copy, name)
    assert issubclass(bad.error, CircuitMismatch)
    assert str(path) in bad.reason and "manifest pins" in bad.reason
    with pytest.raises(CircuitMismatch) as err:
        load_circuit(models_copy / name)
    assert err.value.path == str(path)


def test_a_changed_onnx_file_says_the_manifest_is_stale_and_how_to_rebuild(models_copy):
    folder = models_copy / VICTIM
    (folder / "model.onnx").write_bytes((folder / "model.onnx").read_bytes() + b"\0")
    bad = broken_one(models_copy, VICTIM)
    assert bad.error is StaleManifest
    assert f"this manifest is stale: rebuild with python -m execution_layer.build {folder}" in bad.reason


def test_a_copied_folder_brings_a_foreign_manifest_that_is_named_with_the_fix(models_copy):
    """A model author copies a folder to start a new model: the copy is refused on its own, the original
    still loads, and the line says whose manifest it is and what to run."""
    source = SHIPPED[0]
    copy = models_copy / f"{source}_copy"
    shutil.copytree(models_copy / source, copy)
    registry = CircuitRegistry.load(models_copy)
    assert [c.name for c in registry] == list(SHIPPED)
    (bad,) = registry.broken
    assert bad.name == copy.name and bad.error is ForeignManifest
    assert (f"this manifest belongs to {source}, not {copy.name}: rebuild with python -m execution_layer.build "
            f"{copy}") in bad.reason


def test_asking_by_name_for_a_broken_circuit_says_why_and_an_unknown_name_lists_the_loaded(models_copy):
    (models_copy / VICTIM / "vk.key").unlink()
    registry = CircuitRegistry.load(models_copy)
    with pytest.raises(CircuitUnavailable, match=rf"circuit {VICTIM} is not loaded: .*vk.key"):
        registry.by_name(VICTIM)
    with pytest.raises(CircuitNotFound, match="have: ") as err:
        registry.by_name("nope")
    assert not isinstance(err.value, CircuitUnavailable)


def test_a_broken_folder_warning_is_one_line_naming_the_folder_the_reason_and_the_fix(models_copy):
    (models_copy / VICTIM / "vk.key").unlink()
    bad = broken_one(models_copy, VICTIM)
    assert "\n" not in bad.warning
    assert bad.warning.startswith(f"circuit {VICTIM} not loaded (CircuitMismatch): ")
    assert f"git checkout {models_copy / VICTIM}" in bad.warning
    assert f"python -m execution_layer.build {models_copy / VICTIM}" in bad.warning


def test_a_broken_folder_warning_gives_the_fix_once_when_the_reason_has_it(models_copy):
    folder = models_copy / VICTIM
    (folder / "model.onnx").write_bytes((folder / "model.onnx").read_bytes() + b"\0")
    bad = broken_one(models_copy, VICTIM)
    assert bad.warning.count("python -m execution_layer.build") == 1


def test_when_every_folder_is_broken_loading_fails_naming_each(models_copy):
    for name in SHIPPED:
        (models_copy / name / "vk.key").unlink()
    with pytest.raises(NoCircuitLoads, match=rf"no circuit loads \({', '.join(SHIPPED)}\): ") as err:
        CircuitRegistry.load(models_copy)
    assert [b.name for b in err.value.broken] == list(SHIPPED)
    assert all(f"{name}: " in str(err.value) and f"{name}/vk.key" in str(err.value) for name in SHIPPED)


def test_when_every_folder_fails_for_one_reason_it_is_said_once(models_copy):
    """Tried: the circuits of one SRS size alone, that SRS file gone. Holds: the shared reason is said once."""
    srs_name = Manifest.read(models_copy / SHIPPED[0] / "manifest.json").srs.file
    for name in SHIPPED:
        if Manifest.read(models_copy / name / "manifest.json").srs.file != srs_name:
            shutil.rmtree(models_copy / name)
    srs = models_copy / "srs" / srs_name
    srs.unlink()
    with pytest.raises(NoCircuitLoads) as err:
        CircuitRegistry.load(models_copy)
    assert str(err.value).count(str(srs)) == 1 and "missing" in str(err.value)


def test_a_folder_whose_name_starts_with_a_dot_is_not_a_circuit(models_copy):
    """The build works in ``.<name>.build-*`` next to the folder; a crashed one must not load."""
    shutil.copytree(models_copy / SHIPPED[0], models_copy / f".{SHIPPED[0]}.build-x")
    registry = CircuitRegistry.load(models_copy)
    assert [c.name for c in registry] == list(SHIPPED) and registry.broken == ()


def test_a_registry_with_a_broken_folder_survives_pickling(models_copy):
    (models_copy / VICTIM / "vk.key").unlink()
    registry = CircuitRegistry.load(models_copy)
    assert pickle.loads(pickle.dumps(registry)) == registry


def test_a_missing_artifact_breaks_its_folder_with_circuit_mismatch(models_copy):
    (models_copy / VICTIM / "vk.key").unlink()
    bad = broken_one(models_copy, VICTIM)
    assert bad.error is CircuitMismatch and "vk.key" in bad.reason and "missing" in bad.reason


def test_another_srs_raises_circuit_mismatch(models_copy, tmp_path):
    """The SRS files are always hash-checked, also in a folder given explicitly (srs_dir): tried, a
    folder holding every size's file with one bit flipped; holds, no circuit loads and each names its file."""
    other = tmp_path / "other"
    other.mkdir()
    for srs in (models_copy / "srs").glob("kzg*.srs"):
        data = bytearray(srs.read_bytes())
        data[-1] ^= 0x01
        (other / srs.name).write_bytes(bytes(data))
    with pytest.raises(NoCircuitLoads, match="no circuit loads .*other/kzg"):
        CircuitRegistry.load(models_copy, srs_dir=other)
    assert len(CircuitRegistry.load(models_copy, srs_dir=models_copy / "srs")) == len(SHIPPED)
    shutil.rmtree(models_copy / "srs")
    with pytest.raises(NoCircuitLoads, match="no circuit loads .*missing"):
        CircuitRegistry.load(models_copy)


def _repin(folder: Path, kind: str, *, fix_id: bool = True) -> None:
    """Pin the file of ``kind`` ("onnx", ..., "metadata", "samples") as it is now, recomputing the circuit
    id unless ``fix_id`` is false, so only the edit itself is wrong."""
    manifest = Manifest.read(folder / "manifest.json")
    section = "artifacts" if kind in {f.name for f in fields(Artifacts)} else "data"
    pins = getattr(manifest, section)
    pin = getattr(pins, kind)
    pins = replace(pins, **{kind: replace(pin, sha256=sha256_file(folder / pin.path))})
    manifest = replace(manifest, **{section: pins})
    if fix_id:
        manifest = replace(manifest, circuit_id=manifest.pinned_id)
    manifest.write(folder / "manifest.json")


@pytest.mark.parametrize("name", SHIPPED)
def test_a_shipped_manifest_read_and_written_again_is_byte_identical(name, tmp_path):
    Manifest.read(MODELS / name / "manifest.json").write(tmp_path / "manifest.json")
    assert (tmp_path / "manifest.json").read_bytes() == (MODELS / name / "manifest.json").read_bytes()


@pytest.mark.parametrize("name", SHIPPED)
def test_pinning_a_shipped_folder_again_writes_its_manifest_byte_for_byte(name, tmp_path):
    """What the build writes for unchanged files is the committed manifest: same pins, same id, same bytes."""
    shipped = Manifest.read(MODELS / name / "manifest.json")
    manifest = Manifest.pin(
        MODELS / name, name=shipped.name, ezkl_version=shipped.ezkl_version,
        srs_path=MODELS / "srs" / shipped.srs.file, logrows=shipped.srs.logrows, srs_origin=shipped.srs.origin,
        proof_bytes=shipped.proof_bytes, measured=shipped.measured,
    )
    assert manifest == shipped and manifest.pinned_id == shipped.circuit_id
    manifest.write(tmp_path / "manifest.json")
    assert (tmp_path / "manifest.json").read_bytes() == (MODELS / name / "manifest.json").read_bytes()


def test_an_edited_pin_breaks_the_circuit_id(models_copy):
    """Re-pinning a changed file in the manifest changes the id, which is itself checked."""
    path = models_copy / VICTIM / "model.onnx"
    path.write_bytes(path.read_bytes() + b"\0")
    _repin(models_copy / VICTIM, "onnx", fix_id=False)
    bad = broken_one(models_copy, VICTIM)
    assert bad.error is CircuitMismatch and "manifest.json" in bad.reason


def test_another_ezkl_version_raises_version_mismatch(models_copy):
    manifest_path = models_copy / VICTIM / "manifest.json"
    replace(Manifest.read(manifest_path), ezkl_version="22.0.0").write(manifest_path)
    bad = broken_one(models_copy, VICTIM)
    message = bad.reason
    assert bad.error is VersionMismatch
    assert "22.0.0" in message and execution_layer.ezkl_version() in message and VICTIM in message


def test_malformed_or_absent_manifests_are_clear_errors(models_copy, tmp_path):
    (models_copy / VICTIM / "manifest.json").write_text("{not json")
    assert "malformed manifest" in broken_one(models_copy, VICTIM).reason
    with pytest.raises(ExecutionError, match="no circuits"):
        CircuitRegistry.load(tmp_path / "empty")


def _edited_manifest(edit) -> dict:
    doc = json.loads((MODELS / "wine_mlp" / "manifest.json").read_text())
    edit(doc)
    return doc


@pytest.mark.parametrize(
    "doc, words",
    [
        pytest.param(_edited_manifest(lambda d: d.update(built_by="me")), "unknown ['built_by']", id="unknown-key"),
        pytest.param(_edited_manifest(lambda d: d["data"].pop("samples")), "missing ['samples']", id="no-samples-pin"),
        pytest.param(_edited_manifest(lambda d: d.update(proof_bytes="3072")), "proof_bytes must be an integer",
                     id="count-as-string"),
        pytest.param(_edited_manifest(lambda d: d.update(proof_bytes=True)), "proof_bytes must be an integer",
                     id="bool-is-no-count"),
        pytest.param(_edited_manifest(lambda d: d["artifacts"]["vk"].update(sha256="AB" * 32)),
                     "artifacts.vk.sha256 must be 64 lowercase hex", id="hash-case"),
        pytest.param(_edited_manifest(lambda d: d.update(circuit_id="0" * 63)), "circuit_id must be 64",
                     id="short-id"),
    ],
)
def test_a_manifest_off_the_layout_is_malformed_naming_the_field(models_copy, doc, words):
    path = models_copy / "wine_mlp" / "manifest.json"
    path.write_text(json.dumps(doc))
    reason = broken_one(models_copy, "wine_mlp").reason
    assert f"{path}: malformed manifest" in reason and words in reason


def test_a_metadata_json_that_does_not_parse_is_refused_at_load_naming_the_model(models_copy):
    folder = models_copy / "wine_mlp"
    doc = json.loads((folder / "metadata.json").read_text())
    doc["input"]["low"] = "-4"
    (folder / "metadata.json").write_text(json.dumps(doc))
    _repin(folder, "metadata")
    reason = broken_one(models_copy, "wine_mlp").reason
    assert "wine_mlp" in reason and "input.low must be a number" in reason


def test_a_metadata_json_naming_another_model_than_the_manifest_is_refused(models_copy):
    folder = models_copy / "wine_mlp"
    doc = json.loads((folder / "metadata.json").read_text())
    doc["name"] = "digits_cnn"
    (folder / "metadata.json").write_text(json.dumps(doc))
    _repin(folder, "metadata")
    assert "names the model 'digits_cnn', the manifest 'wine_mlp'" in broken_one(models_copy, "wine_mlp").reason


def _repin_settings(folder: Path, edit) -> None:
    """Edit settings.json and re-pin it (hash and circuit id) so only the edit itself is wrong."""
    settings_path = folder / "settings.json"
    settings = json.loads(settings_path.read_text())
    edit(settings)
    settings_path.write_text(json.dumps(settings))
    _repin(folder, "settings")


@pytest.mark.parametrize(
    "edit, words",
    [
        pytest.param(lambda s: s.update(model_input_scales=[12, 12]), "2 input(s)", id="two-inputs"),
        pytest.param(lambda s: s.update(model_output_scales=[12, 12]), "2 output(s)", id="two-outputs"),
        pytest.param(lambda s: s.update(model_instance_shapes=[[1, 13], [1, 3], [1, 3]]), "3 instance shape(s)",
                     id="three-instances"),
        pytest.param(lambda s: s.update(model_instance_shapes=[[1, 12], [1, 3]]), "does not match",
                     id="input-shape-differs"),
    ],
)
def test_a_circuit_not_of_one_input_and_one_output_is_refused_at_load(models_copy, edit, words):
    """The verifier binds inputs by position, which only holds for one input tensor matching metadata.json."""
    _repin_settings(models_copy / "wine_mlp", edit)
    reason = broken_one(models_copy, "wine_mlp").reason
    assert "wine_mlp" in reason and words in reason


def test_circuits_expose_the_origin_of_their_srs(registry):
    """The shipped SRS was generated locally; the manifests say so."""
    assert {c.srs_origin for c in registry} == {"self-generated"}
    assert all(c.self_generated_srs for c in registry)


@pytest.mark.parametrize("origin", [None, "trusted", ""])
def test_a_manifest_without_a_known_srs_origin_is_a_clear_error(models_copy, origin):
    manifest_path = models_copy / "wine_mlp" / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    if origin is None:
        del manifest["srs"]["origin"]
    else:
        manifest["srs"]["origin"] = origin
    manifest_path.write_text(json.dumps(manifest))
    reason = broken_one(models_copy, "wine_mlp").reason
    assert re.search("srs.origin .* must be one of 'ceremony', 'self-generated'", reason)


def test_the_srs_origin_is_not_part_of_the_circuit_id(models_copy, registry):
    """origin is the builder's statement about the SRS, not an artifact: declaring it changes no id."""
    manifest_path = models_copy / "wine_mlp" / "manifest.json"
    manifest = Manifest.read(manifest_path)
    replace(manifest, srs=replace(manifest.srs, origin="ceremony")).write(manifest_path)
    loaded = CircuitRegistry.load(models_copy).by_name("wine_mlp")
    assert loaded.srs_origin == "ceremony" and not loaded.self_generated_srs
    assert loaded.id == registry.by_name("wine_mlp").id


def test_the_tests_discover_circuit_folders_as_the_registry_does(models_copy):
    """What ``SHIPPED`` and ``copy_models`` follow: an extra circuit folder is found (here a copy, which
    the registry refuses for its foreign manifest: still a folder it tried), a dot folder and a model
    folder not built yet (no manifest) are not; of those found, only the ones that load are shipped
    circuits, and only those are copied."""
    shutil.copytree(models_copy / SHIPPED[0], models_copy / "extra_model")
    shutil.copytree(models_copy / SHIPPED[0], models_copy / ".hidden")
    (models_copy / "unbuilt").mkdir()
    shutil.copy(models_copy / SHIPPED[0] / "metadata.json", models_copy / "unbuilt" / "metadata.json")
    found = circuit_folder_names(models_copy)
    assert found == sorted([*SHIPPED, "extra_model"])
    registry = CircuitRegistry.load(models_copy)
    assert sorted([c.name for c in registry] + [b.name for b in registry.broken]) == found
    assert loaded_circuit_names(models_copy) == [c.name for c in registry] == list(SHIPPED)
    assert circuit_folder_names(copy_models(models_copy.parent / "again", models_copy)) == list(SHIPPED)
