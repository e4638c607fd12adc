"""EzklProver: input checks, ezkl failures mapped, and use from a worker process."""

from __future__ import annotations

import dataclasses
import multiprocessing
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pytest

from execution_layer import CircuitNotFound, CircuitRegistry, EzklProver, InvalidInputs, ProvingFailed, make_prover, verify
from tests.support.inputs import fresh_input


def test_unknown_circuit_raises_circuit_not_found(prover):
    with pytest.raises(CircuitNotFound):
        prover.prove("f" * 64, np.zeros(64))


@pytest.mark.parametrize(
    "inputs, message",
    [
        (np.zeros(63), "takes 64 values"),
        (np.full(64, 1.5), r"must lie in \[0.0, 1.0\]"),
        (np.full(64, -0.01), "must lie in"),
        (np.full(64, np.nan), "finite"),
    ],
)
def test_bad_inputs_raise_invalid_inputs_before_ezkl_runs(registry, prover, inputs, message):
    """The caller's mistake is its own leaf (InvalidInputs, still a ProvingFailed), so the
    miner can answer it 422 rather than as its own failure."""
    with pytest.raises(InvalidInputs, match=message):
        prover.prove(registry.default.id, inputs)


def test_flat_inputs_are_accepted(registry, prover):
    """Inputs of any shape with the right size prove (the wire format sends flat lists)."""
    circuit = registry.by_name("wine_mlp")
    inputs = fresh_input(circuit, np.random.default_rng(3)).reshape(-1).tolist()
    result = prover.prove(circuit.id, inputs)
    assert verify(circuit, result.proof, inputs).accepted


def test_ezkl_errors_are_mapped_to_proving_failed(registry, prover, tmp_path):
    broken = tmp_path / "broken.compiled"
    broken.write_bytes(b"not a circuit")
    circuit = dataclasses.replace(registry.by_name("wine_mlp"), compiled_path=broken)
    bad = EzklProver([circuit], key_cache=prover.key_cache)
    with pytest.raises(ProvingFailed, match=r"gen_witness \(wine_mlp\): "):
        bad.prove(circuit.id, fresh_input(circuit, np.random.default_rng(0)))


def _prove_in_worker(key_cache, seed):
    prover = make_prover(key_cache=key_cache)
    circuit = CircuitRegistry.load().default
    inputs = fresh_input(circuit, np.random.default_rng(seed))
    return circuit, inputs, prover.prove(circuit.id, inputs)


def test_prover_works_inside_a_worker_process(key_cache):
    """The miner builds the prover in a ProcessPoolExecutor worker via the top-level factory.

    Workers must be spawned: forking a process whose ezkl (rayon) threads already ran deadlocks.
    """
    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
        circuit, inputs, result = pool.submit(_prove_in_worker, key_cache, 8).result(timeout=120)
    assert verify(circuit, result.proof, inputs).accepted


def test_prover_pickles(prover):
    import pickle

    clone = pickle.loads(pickle.dumps(prover))
    assert clone.key_cache == prover.key_cache
