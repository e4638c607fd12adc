"""Session fixtures shared by every test that proves: keys are derived once per session.

``registry``   the shipped circuits, loaded and hash-checked;
``key_cache``  a temporary key-cache root holding the proving key of every shipped circuit,
               derived once per session (ezkl.setup is ~1 s per circuit);
``prover``     an ``EzklProver`` over ``registry`` using ``key_cache``;
``proofs``     one fresh proof per circuit: {circuit name: (inputs, ProveResult)}.
The daemon end-to-end tests reuse ``key_cache`` and ``prover``.
"""

from __future__ import annotations

import numpy as np
import pytest

from execution_layer import CircuitRegistry, EzklProver
from tests.support.inputs import fresh_input


@pytest.fixture(scope="session")
def registry() -> CircuitRegistry:
    return CircuitRegistry.load()


@pytest.fixture(scope="session")
def key_cache(tmp_path_factory, registry):
    cache = tmp_path_factory.mktemp("keys")
    prover = EzklProver(registry, key_cache=cache)
    for circuit in registry:
        prover.ensure_keys(circuit.id)
    return cache


@pytest.fixture(scope="session")
def prover(registry, key_cache) -> EzklProver:
    return EzklProver(registry, key_cache=key_cache)


@pytest.fixture(scope="session")
def proofs(registry, prover):
    rng = np.random.default_rng(2024)
    made = {}
    for circuit in registry:
        inputs = fresh_input(circuit, rng)
        made[circuit.name] = (inputs, prover.prove(circuit.id, inputs))
    return made
