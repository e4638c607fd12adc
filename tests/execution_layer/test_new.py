"""``python -m execution_layer.new``: a model folder from a bare ONNX file (made with onnx.helper, no torch).

The main test walks the author's whole path: the ONNX file, the command, the
folder, the exact build command it prints, and a real proof that verifies.
The refusals each check the one-line error and that nothing was written.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto

from execution_layer import CircuitRegistry, EzklProver, verify
from execution_layer.build import SUPPORTED_OPSETS
from execution_layer.build import main as build_main
from execution_layer.new import DEFAULT_DRAWS, main
from models.metadata import ModelMetadata
from models.sampling import Sampler
from tests.support.models import MODELS
from tests.support.onnx_models import (
    INPUTS,
    OUTPUTS,
    gemm_then,
    two_inputs,
    two_outputs,
    typed_input,
    unrunnable,
    with_batch,
)


@pytest.fixture
def models(tmp_path) -> Path:
    """An empty models folder with the shipped SRS beside it, as a checkout has."""
    root = tmp_path / "models"
    shutil.copytree(MODELS / "srs", root / "srs")
    return root


def _onnx(tmp_path: Path, model: onnx.ModelProto, name: str = "model.onnx") -> Path:
    path = tmp_path / name
    onnx.save(model, str(path))
    return path


def _new(models: Path, onnx_path: Path, *flags: str, name: str = "tiny") -> int:
    return main([name, "--onnx", str(onnx_path), "--low", "-1", "--high", "1", "--models", str(models), *flags])


def _nothing_written(models: Path) -> bool:
    """Only the srs/ the fixture put there: no model folder and no half-written work folder."""
    return [p.name for p in models.iterdir()] == ["srs"]


def test_a_bare_onnx_file_becomes_a_folder_that_builds_and_proves(tmp_path, models, capsys):
    """A dynamic batch (as exporters write it) is set to 1 in the folder's model.onnx: ezkl cannot
    size a circuit over an unnamed symbol. The build command printed is run as printed, plus
    ``--gen-srs`` (a test generates whatever SRS the circuit's size needs, in tmp)."""
    source = _onnx(tmp_path, with_batch(gemm_then("Relu")))
    assert _new(models, source, "--labels", "up,down", "--description", "a tiny gemm") == 0
    out = capsys.readouterr().out
    assert "real held-out samples (--samples) give validators a better sampler" in out
    command = out.strip().splitlines()[-1].split()
    assert command[:3] == ["python", "-m", "execution_layer.build"] and len(command) == 4
    folder = models / "tiny"
    assert sorted(p.name for p in folder.iterdir()) == ["metadata.json", "model.onnx", "samples.npy"]
    metadata = ModelMetadata.read(folder / "metadata.json")
    assert (metadata.name, metadata.description, metadata.labels) == ("tiny", "a tiny gemm", ("up", "down"))
    assert metadata.input.shape == (1, INPUTS) and (metadata.input.low, metadata.input.high) == (-1.0, 1.0)
    graph = onnx.load(str(folder / "model.onnx")).graph
    assert [d.dim_value for d in graph.input[0].type.tensor_type.shape.dim] == [1, INPUTS]
    assert [d.dim_value for d in graph.output[0].type.tensor_type.shape.dim] == [1, OUTPUTS]

    assert build_main([command[3], "--gen-srs"]) == 0
    registry = CircuitRegistry.load(models)
    circuit = registry.by_name("tiny")
    inputs = Sampler.load(circuit.samples_path, circuit.spec).draw(np.random.default_rng(7))
    result = EzklProver(registry, key_cache=tmp_path / "keys").prove(circuit.id, inputs)
    verdict = verify(circuit, result.proof, inputs)
    assert verdict.accepted, verdict.reason
    assert np.allclose(result.outputs, circuit.run_onnx(inputs), atol=1e-2)


def test_a_model_with_fixed_dims_is_copied_byte_for_byte(tmp_path, models):
    """The source is written as protobuf allows but never re-serializes (a second message merged in),
    so a folder whose model.onnx went through onnx.load/save would differ from it."""
    source = tmp_path / "model.onnx"
    source.write_bytes(gemm_then().SerializeToString() + onnx.ModelProto(doc_string="merged").SerializeToString())
    assert onnx.load(str(source)).SerializeToString() != source.read_bytes()
    assert _new(models, source) == 0
    assert (models / "tiny" / "model.onnx").read_bytes() == source.read_bytes()


def test_samples_given_are_the_pool_and_without_them_the_pool_is_seeded_uniform_draws(tmp_path, models):
    rows = np.random.default_rng(1).uniform(-0.5, 0.5, size=(5, INPUTS)).astype(np.float32)
    np.save(tmp_path / "held_out.npy", rows)
    source = _onnx(tmp_path, gemm_then())
    assert _new(models, source, "--samples", str(tmp_path / "held_out.npy"), name="given") == 0
    assert np.array_equal(np.load(models / "given" / "samples.npy").reshape(5, INPUTS), rows)
    pools = []
    for name, seed in (("a", "3"), ("b", "3"), ("c", "4")):
        assert _new(models, source, "--seed", seed, name=name) == 0
        pools.append(np.load(models / name / "samples.npy"))
    assert pools[0].shape == (DEFAULT_DRAWS, 1, INPUTS) and pools[0].min() >= -1 and pools[0].max() <= 1
    assert np.array_equal(pools[0], pools[1]) and not np.array_equal(pools[0], pools[2])


def test_shape_sets_a_dynamic_dim(tmp_path, models):
    source = _onnx(tmp_path, with_batch(gemm_then()))
    assert _new(models, source, "--shape", f"2,{INPUTS}") == 0
    assert ModelMetadata.read(models / "tiny" / "metadata.json").input.shape == (2, INPUTS)


@pytest.mark.parametrize("shape, words", [
    (f"1,{INPUTS + 1}", "(dim 1 is fixed at 4 in the graph)"),
    (f"1,1,{INPUTS}", "(rank 3, the graph's is 2)"),
])
def test_a_shape_that_contradicts_the_graph_is_refused(tmp_path, models, capsys, shape, words):
    assert _new(models, _onnx(tmp_path, with_batch(gemm_then())), "--shape", shape) == 1
    err = capsys.readouterr().err
    assert f"does not fit input 'x' [?, {INPUTS}]" in err and words in err and "keep the graph's fixed dims" in err
    assert _nothing_written(models)


@pytest.mark.parametrize("model, words", [
    (two_inputs(), "has 2 input(s) (x, z) and 1 output(s) (y)"),
    (two_outputs(), "has 1 input(s) (x) and 2 output(s) (y, n)"),
])
def test_a_model_without_exactly_one_input_and_one_output_is_refused(tmp_path, models, capsys, model, words):
    assert _new(models, _onnx(tmp_path, model)) == 1
    err = capsys.readouterr().err
    assert words in err and "exactly one input tensor and gives one output tensor" in err
    assert len(err.strip().splitlines()) == 1 and _nothing_written(models)


def test_weights_listed_as_graph_inputs_are_not_counted_as_inputs(tmp_path, models):
    """Exporters before IR 4 list every initializer among the graph's inputs: those are weights."""
    model = gemm_then()
    model.graph.input.extend(onnx.helper.make_tensor_value_info(t.name, t.data_type, t.dims)
                             for t in model.graph.initializer)
    assert _new(models, _onnx(tmp_path, model)) == 0


@pytest.mark.parametrize("elem_type", [TensorProto.INT64, TensorProto.DOUBLE])
def test_a_non_float32_input_is_refused(tmp_path, models, capsys, elem_type):
    assert _new(models, _onnx(tmp_path, typed_input(elem_type))) == 1
    name = TensorProto.DataType.Name(elem_type)
    assert f"input 'x' is {name}, not a float32 tensor" in capsys.readouterr().err
    assert _nothing_written(models)


@pytest.mark.parametrize("opset", [SUPPORTED_OPSETS[0] - 1, SUPPORTED_OPSETS[-1] + 1])
def test_an_opset_outside_the_supported_range_is_refused_with_the_range(tmp_path, models, capsys, opset):
    assert _new(models, _onnx(tmp_path, gemm_then(opset=opset))) == 1
    err = capsys.readouterr().err
    assert (f"uses ai.onnx opset {opset}, the build supports opsets {SUPPORTED_OPSETS[0]} to "
            f"{SUPPORTED_OPSETS[-1]}") in err
    assert _nothing_written(models)


def test_an_existing_folder_is_kept_unless_force_replaces_it_whole(tmp_path, models, capsys):
    source = _onnx(tmp_path, gemm_then())
    assert _new(models, source) == 0
    (models / "tiny" / "manifest.json").write_text("{}")  # a previous build's
    before = {p.name: p.read_bytes() for p in (models / "tiny").iterdir()}
    assert _new(models, _onnx(tmp_path, gemm_then("Relu"), "other.onnx")) == 1
    assert "tiny already exists: pick another name, or pass --force" in capsys.readouterr().err
    assert {p.name: p.read_bytes() for p in (models / "tiny").iterdir()} == before
    assert _new(models, tmp_path / "other.onnx", "--force") == 0
    assert sorted(p.name for p in (models / "tiny").iterdir()) == ["metadata.json", "model.onnx", "samples.npy"]
    assert (models / "tiny" / "model.onnx").read_bytes() == (tmp_path / "other.onnx").read_bytes()
    assert sorted(p.name for p in models.iterdir()) == ["srs", "tiny"]  # no work or old folder left


@pytest.mark.parametrize("rows, words", [
    (np.zeros((3, INPUTS + 1)), f"samples hold {INPUTS + 1} values per row, the input spec {INPUTS}"),
    (np.full((3, INPUTS), 2.0), "samples must be finite and lie in [-1.0, 1.0]"),
])
def test_samples_that_do_not_fit_the_shape_or_range_are_refused(tmp_path, models, capsys, rows, words):
    np.save(tmp_path / "bad.npy", rows)
    assert _new(models, _onnx(tmp_path, gemm_then()), "--samples", str(tmp_path / "bad.npy")) == 1
    err = capsys.readouterr().err
    assert f"{tmp_path / 'bad.npy'}: {words}" in err and "or widen --low/--high" in err
    assert _nothing_written(models)


def test_a_model_onnxruntime_cannot_run_is_refused_quoting_it(tmp_path, models, capsys):
    assert _new(models, _onnx(tmp_path, unrunnable())) == 1
    err = capsys.readouterr().err
    assert "onnxruntime cannot run" in err and "on an input of shape [1, 4]" in err
    assert len(err.strip().splitlines()) == 1 and _nothing_written(models)


def test_labels_must_number_the_outputs(tmp_path, models, capsys):
    assert _new(models, _onnx(tmp_path, gemm_then()), "--labels", "a,b,c") == 1
    assert f"3 labels given but the model's output holds {OUTPUTS} values" in capsys.readouterr().err
    assert _nothing_written(models)


@pytest.mark.parametrize("name, words", [("my-model", "'my-model' must be a Python identifier (letters, digits, "
                                                    "_; e.g. 'my_model')"),
                                         (".hidden", "'.hidden' must be a Python identifier")])
def test_a_name_that_is_no_identifier_is_refused(tmp_path, models, capsys, name, words):
    assert _new(models, _onnx(tmp_path, gemm_then()), name=name) == 1
    assert words in capsys.readouterr().err and _nothing_written(models)


def test_a_file_that_is_not_onnx_or_keeps_external_data_is_refused(tmp_path, models, capsys):
    (tmp_path / "junk.onnx").write_text("not a model")
    assert _new(models, tmp_path / "junk.onnx") == 1
    assert "junk.onnx: not an ONNX model" in capsys.readouterr().err
    onnx.save(gemm_then(), str(tmp_path / "split.onnx"), save_as_external_data=True, size_threshold=0)
    assert _new(models, tmp_path / "split.onnx") == 1
    assert "keeps its weights in external data files: save it as one file" in capsys.readouterr().err
    assert _nothing_written(models)


def test_a_range_that_is_empty_is_refused(tmp_path, models, capsys):
    assert main(["tiny", "--onnx", str(_onnx(tmp_path, gemm_then())), "--low", "1", "--high", "1",
                 "--models", str(models)]) == 1
    assert "input spec: input range must be finite with low < high, got [1.0, 1.0]" in capsys.readouterr().err
    assert _nothing_written(models)


def test_help_names_every_flag_and_writes_nothing(models, capsys):
    with pytest.raises(SystemExit) as done:
        main(["--help"])
    assert done.value.code == 0
    text = capsys.readouterr().out
    for flag in ("--onnx", "--low", "--high", "--shape", "--samples", "--labels", "--description",
                 "--noise-std", "--accuracy", "--draws", "--seed", "--models", "--force"):
        assert flag in text
    assert _nothing_written(models)


def test_metadata_is_written_in_the_canonical_layout(tmp_path, models):
    """Through ModelMetadata.write: reading it back and writing it again gives the same bytes."""
    assert _new(models, _onnx(tmp_path, gemm_then()), "--noise-std", "0.25") == 0
    path = models / "tiny" / "metadata.json"
    metadata = ModelMetadata.read(path)
    assert metadata.input.noise_std == 0.25 and metadata.calibration_scales == ()
    metadata.write(tmp_path / "again.json")
    assert (tmp_path / "again.json").read_bytes() == path.read_bytes()
    assert json.loads(path.read_text())["name"] == "tiny"
