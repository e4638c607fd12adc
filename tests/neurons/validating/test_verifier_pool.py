"""neurons.validating.verifier_pool: the validator's proof checks, as they run in a worker process.

Real EZKL proofs of the smallest shipped circuit (``real`` / ``real_proof`` in conftest).
"""

from __future__ import annotations

import numpy as np
import pytest

import execution_layer
from neurons.shared.prover_pool import WorkerCrashed
from neurons.validating.verifier_pool import VerifierPool
from tests.support.inputs import fresh_input
from tests.support.provers import exit_worker

pytestmark = pytest.mark.anyio


async def test_registry_verifier_in_a_worker_process_as_the_validator_runs_it(real, real_proof):
    """The production verify path: ``RegistryVerifier`` built inside a spawned VerifierPool."""
    circuit = real[0]
    inputs, result = real_proof
    sent = [float(v) for v in np.asarray(inputs).reshape(-1)]
    other = [float(v) for v in fresh_input(circuit, np.random.default_rng(12)).reshape(-1)]
    pool = VerifierPool(workers=1)
    try:
        accepted = await pool.verify(circuit.id, result.proof, sent)
        wrong_inputs = await pool.verify(circuit.id, result.proof, other)
        unknown = await pool.verify("f" * 64, result.proof, sent)
    finally:
        await pool.aclose()
    assert accepted.accepted and accepted.outputs == pytest.approx(result.outputs)
    assert not wrong_inputs.accepted and "other inputs" in wrong_inputs.reason
    assert not unknown.accepted and unknown.reason.startswith("unknown circuit")


async def test_a_dead_verifier_worker_raises_worker_crashed_and_the_next_verify_is_served(real, real_proof):
    circuit = real[0]
    inputs, result = real_proof
    sent = [float(v) for v in np.asarray(inputs).reshape(-1)]
    pool = VerifierPool(workers=1)
    try:
        with pytest.raises(WorkerCrashed, match="a verifier worker died"):
            await pool.run(exit_worker)
        verdict = await pool.verify(circuit.id, result.proof, sent)
    finally:
        await pool.aclose()
    assert verdict.accepted


def test_registry_verifier_turns_a_rust_panic_into_a_rejection(real, real_proof, monkeypatch):
    """pyo3 raises Rust panics as PanicException, a BaseException that ``except Exception``
    misses; the verifier must still answer with a rejected Verdict."""

    class PanicException(BaseException):
        pass

    def panicking_verify(*args):
        raise PanicException("index out of bounds")

    circuit, _, verifier = real
    inputs, result = real_proof
    monkeypatch.setattr(execution_layer, "verify", panicking_verify)
    verdict = verifier.verify(circuit.id, result.proof, list(np.asarray(inputs).reshape(-1)))
    assert not verdict.accepted
    assert verdict.reason == "verifier panicked: PanicException: index out of bounds"
