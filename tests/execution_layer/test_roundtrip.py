"""Prove-and-verify round trips of every shipped model, with real ezkl."""

from __future__ import annotations

import numpy as np
import pytest

from execution_layer import fidelity, verify
from tests.support.models import SHIPPED

MAX_OUTPUT_ERROR = 0.05


def test_the_session_proved_every_shipped_model(registry, proofs):
    assert [c.name for c in registry] == list(SHIPPED) and sorted(proofs) == sorted(SHIPPED)


def test_every_shipped_model_round_trips(shipped_circuit, proofs):
    """A proof of fresh sampled inputs verifies; its outputs match onnxruntime closely."""
    circuit = shipped_circuit
    inputs, result = proofs[circuit.name]
    verdict = verify(circuit, result.proof, inputs)
    assert verdict.accepted, verdict.reason
    assert verdict.reason is None
    assert verdict.outputs == result.outputs
    assert len(result.outputs) == len(circuit.run_onnx(inputs))
    assert fidelity(circuit, inputs, verdict.outputs) < MAX_OUTPUT_ERROR
    assert len(result.proof.proof) == circuit.proof_bytes  # the length the build measured and pinned


def test_proof_input_instances_equal_the_encoded_inputs(registry, proofs):
    """What ezkl puts in the proof is exactly what encode_inputs computes (the binding check)."""
    for circuit in registry:
        inputs, result = proofs[circuit.name]
        flat = [v for column in result.proof.instances for v in column]
        (encoded,) = circuit.encode_inputs(inputs)
        assert tuple(flat[: circuit.num_inputs]) == encoded


@pytest.mark.parametrize("where", ["low", "high", "corners"])
def test_proving_at_the_sampler_extremes_works(registry, prover, where):
    """Inputs at the range's edges stay inside the calibrated lookups and prove and verify."""
    rng = np.random.default_rng(5)
    for circuit in registry:
        low, high = circuit.input_range
        if where == "low":
            inputs = np.full(circuit.input_shape, low, dtype=np.float32)
        elif where == "high":
            inputs = np.full(circuit.input_shape, high, dtype=np.float32)
        else:
            inputs = rng.choice([low, high], size=circuit.input_shape).astype(np.float32)
        result = prover.prove(circuit.id, inputs)
        verdict = verify(circuit, result.proof, inputs)
        assert verdict.accepted, (circuit.name, where, verdict.reason)
        assert fidelity(circuit, inputs, verdict.outputs) < MAX_OUTPUT_ERROR
