"""The shipped model packages: specs, metadata and samplers."""

from __future__ import annotations

import importlib
import json

import numpy as np
import onnx
import pytest

from execution_layer import default_models_dir
from models.sampling import InputSpec

MODELS = default_models_dir()
NAMES = ["digits_cnn", "wine_mlp"]


@pytest.mark.parametrize("name", NAMES)
def test_metadata_matches_the_package_spec_and_the_onnx_graph(name):
    package = importlib.import_module(f"models.{name}")
    metadata = json.loads((MODELS / name / "metadata.json").read_text())
    assert metadata["name"] == package.NAME == name
    assert InputSpec.from_json(metadata["input"]) == package.SPEC
    assert metadata["held_out_accuracy"] >= 0.85 and metadata["timeout_s"] > 0 and metadata["description"]
    graph = onnx.load(MODELS / name / "model.onnx").graph
    dims = tuple(d.dim_value for d in graph.input[0].type.tensor_type.shape.dim)
    assert dims == package.SPEC.shape
    assert graph.output[0].type.tensor_type.shape.dim[-1].dim_value == len(metadata["labels"])


@pytest.mark.parametrize("name", NAMES)
def test_sampler_gives_distinct_in_range_inputs(name):
    package = importlib.import_module(f"models.{name}")
    spec = package.SPEC
    rng = np.random.default_rng()
    draws = [package.sample_inputs(rng) for _ in range(50)]
    for x in draws:
        assert x.shape == spec.shape and x.dtype == np.float32
        assert x.min() >= spec.low and x.max() <= spec.high
    assert len({x.tobytes() for x in draws}) == len(draws)


@pytest.mark.parametrize("name", NAMES)
def test_sampler_is_driven_by_the_injected_rng(name, registry):
    package = importlib.import_module(f"models.{name}")
    a = package.sample_inputs(np.random.default_rng(42))
    b = package.sample_inputs(np.random.default_rng(42))
    assert np.array_equal(a, b)
    assert np.array_equal(registry.by_name(name).sample_inputs(np.random.default_rng(42)), a)
