"""Real execution-layer fixtures the daemon tests share, so each key is derived once per session.

``shipped`` is the circuit registry; ``key_dir`` is the suite's session ``key_cache`` when it provides one, else a
temporary folder; ``real`` is (circuit, prover, verifier) for the smallest
shipped circuit with its proving key in place; ``real_proof`` one real proof of it.
"""

from __future__ import annotations

import numpy as np
import pytest

from tests.support.inputs import fresh_input


@pytest.fixture(scope="session")
def shipped():
    """The shipped circuit registry, loaded (and hash-checked) once."""
    from execution_layer import CircuitRegistry

    return CircuitRegistry.load()


@pytest.fixture(scope="session")
def key_dir(request, tmp_path_factory):
    try:
        return request.getfixturevalue("key_cache")
    except pytest.FixtureLookupError:
        return tmp_path_factory.mktemp("keys")


@pytest.fixture(scope="session")
def real(request, key_dir, shipped):
    """(circuit, prover, verifier) for wine_mlp; the session ``prover`` when there is one."""
    from execution_layer import EzklProver
    from neurons.validating.verifier_pool import make_registry_verifier

    try:
        prover = request.getfixturevalue("prover")
    except pytest.FixtureLookupError:
        prover = EzklProver(shipped, key_cache=key_dir)
    circuit = shipped.by_name("wine_mlp")
    prover.ensure_keys(circuit.id)
    return circuit, prover, make_registry_verifier()


@pytest.fixture(scope="session")
def real_proof(request, real):
    """(inputs, ProveResult) for the real circuit: the session's, or one made here."""
    circuit, prover, _ = real
    try:
        return request.getfixturevalue("proofs")[circuit.name]
    except pytest.FixtureLookupError:
        inputs = fresh_input(circuit, np.random.default_rng(11))
        return inputs, prover.prove(circuit.id, inputs)
