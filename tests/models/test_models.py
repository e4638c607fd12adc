"""The shipped models' contract (metadata.json), and the sampler every model is drawn with."""

from __future__ import annotations

import json
import math
import subprocess

import numpy as np
import onnx
import pytest

from execution_layer import default_models_dir
from models.metadata import InputSpec, ModelError, ModelMetadata
from models.sampling import Sampler
from tests.support.models import SHIPPED
from tests.support.paths import PYTHON, REPO_ROOT

MODELS = default_models_dir()
NAMES = SHIPPED
TRAINED = [name for name in SHIPPED if (MODELS / name / "train.py").is_file()]  # folders that ship a train.py


def _shipped(name: str) -> ModelMetadata:
    return ModelMetadata.read(MODELS / name / "metadata.json")


@pytest.mark.parametrize("name", NAMES)
def test_metadata_matches_the_folder_and_the_onnx_graph(name):
    """Labels are one per output value, or none (a folder made by ``execution_layer.new`` may have none)."""
    metadata = _shipped(name)
    assert metadata.name == name and metadata.description
    graph = onnx.load(MODELS / name / "model.onnx").graph
    dims = tuple(d.dim_value for d in graph.input[0].type.tensor_type.shape.dim)
    assert dims == metadata.input.shape
    outputs = [d.dim_value for d in graph.output[0].type.tensor_type.shape.dim]
    assert not metadata.labels or math.prod(outputs) == len(metadata.labels)


@pytest.mark.parametrize("name", TRAINED)
def test_a_trained_model_reaches_its_accuracy_bar(name):
    """Measured by its train.py; a folder imported from an ONNX file states what its author measured."""
    assert _shipped(name).held_out_accuracy >= 0.85


@pytest.mark.parametrize("name", NAMES)
def test_metadata_written_back_is_byte_identical_to_the_shipped_file(name, tmp_path):
    """train.py rewrites metadata.json through ``write``: unchanged values must not change the pinned bytes."""
    _shipped(name).write(tmp_path / "metadata.json")
    assert (tmp_path / "metadata.json").read_bytes() == (MODELS / name / "metadata.json").read_bytes()


@pytest.mark.parametrize("name", NAMES)
def test_the_circuit_carries_the_metadata_json_spec(name, registry):
    """One source: the loaded circuit's spec is metadata.json's, not a copy kept elsewhere."""
    assert registry.by_name(name).spec == _shipped(name).input


@pytest.mark.parametrize("name", NAMES)
def test_sampler_gives_distinct_in_range_inputs(name):
    spec = _shipped(name).input
    sampler = Sampler.load(MODELS / name / "samples.npy", spec)
    rng = np.random.default_rng()
    draws = [sampler.draw(rng) for _ in range(50)]
    for x in draws:
        assert x.shape == spec.shape and x.dtype == np.float32
        assert x.min() >= spec.low and x.max() <= spec.high
    assert len({x.tobytes() for x in draws}) == len(draws)


@pytest.mark.parametrize("name", NAMES)
def test_sampler_is_driven_by_the_injected_rng(name):
    sampler = Sampler.load(MODELS / name / "samples.npy", _shipped(name).input)
    a, b, c = (sampler.draw(np.random.default_rng(seed)) for seed in (42, 42, 43))
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def _document(**changes) -> dict:
    doc = json.loads((MODELS / "wine_mlp" / "metadata.json").read_text())
    doc.update(changes)
    return doc


@pytest.mark.parametrize(
    "doc, words",
    [
        pytest.param(_document(timeout=5.0), "unknown timeout", id="unknown-key"),
        pytest.param({k: v for k, v in _document().items() if k != "labels"}, "missing labels", id="missing-key"),
        pytest.param(_document(held_out_accuracy=True), "held_out_accuracy must be a number", id="bool-is-no-number"),
        # Folders from before timeouts were measured: the key is refused saying where timeouts come from now.
        pytest.param(_document(timeout_s=10.0), "the build measures proving time and the timeout follows from it",
                     id="hand-written-timeout"),
        pytest.param(_document(held_out_accuracy=96.3), "held_out_accuracy must lie in [0, 1]", id="percent"),
        pytest.param(_document(calibration_scales=[12.5]), "calibration_scales must hold integers", id="scale"),
        pytest.param(_document(input={**_document()["input"], "low": 4.0}), "low < high", id="empty-range"),
        pytest.param(_document(input={**_document()["input"], "dtype": "int8"}), "dtype must be 'float32'",
                     id="dtype"),
        pytest.param(_document(input={**_document()["input"], "shape": [1, 0]}), "positive integers", id="shape"),
        pytest.param(_document(input={**_document()["input"], "noise_std": -0.1}), "noise_std", id="noise"),
    ],
)
def test_malformed_metadata_is_refused_naming_the_file(tmp_path, doc, words):
    path = tmp_path / "metadata.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(ModelError) as err:
        ModelMetadata.read(path)
    assert str(path) in str(err.value) and words in str(err.value)


SPEC = InputSpec(shape=(1, 3), low=-1.0, high=1.0, noise_std=0.1)


@pytest.mark.parametrize(
    "samples, words",
    [
        pytest.param(np.zeros((0, 1, 3)), "empty", id="empty"),
        pytest.param(np.zeros((5, 1, 4)), "4 values per row, the input spec 3", id="row-size"),
        pytest.param(np.full((5, 1, 3), 1.5), "lie in [-1.0, 1.0]", id="out-of-range"),
        pytest.param(np.full((5, 1, 3), np.nan), "finite", id="nan"),
    ],
)
def test_a_sample_pool_that_does_not_fit_the_spec_is_refused_naming_the_file(tmp_path, samples, words):
    path = tmp_path / "samples.npy"
    np.save(path, samples)
    with pytest.raises(ModelError) as err:
        Sampler.load(path, SPEC)
    assert str(path) in str(err.value) and words in str(err.value)


def test_a_sampler_keeps_its_own_read_only_copy_of_the_pool():
    pool = np.zeros((2, 1, 3), dtype=np.float32)
    sampler = Sampler(SPEC, pool)
    pool[:] = 0.9
    assert not sampler.samples.any() and not sampler.samples.flags.writeable


@pytest.mark.parametrize("name", TRAINED)
def test_train_help_prints_usage_and_writes_nothing(name, tmp_path):
    """``--help`` must not retrain: training rewrites the model folder (and so its circuit).
    Run on a copy of models/, so a regression cannot overwrite the shipped model."""
    import shutil

    shutil.copytree(REPO_ROOT / "models", tmp_path / "models")
    folder = tmp_path / "models" / name
    before = {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}
    done = subprocess.run([PYTHON, "-m", f"models.{name}.train", "--help"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and "--folder" in done.stdout and "accuracy" not in done.stdout
    assert {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()} == before


def test_training_writes_into_the_folder_it_is_given(tmp_path):
    """``--folder`` trains into a copy: the model, the samples and the measured accuracy land there."""
    import shutil

    copy = tmp_path / "wine_mlp"
    shutil.copytree(REPO_ROOT / "models" / "wine_mlp", copy)
    (copy / "model.onnx").unlink()
    done = subprocess.run([PYTHON, "-m", "models.wine_mlp.train", "--folder", str(copy)], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert (copy / "model.onnx").stat().st_size > 0 and "held-out accuracy" in done.stdout
    assert ModelMetadata.read(copy / "metadata.json").held_out_accuracy > 0.9
