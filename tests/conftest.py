"""The suite's shared fixtures, defined once (helpers live in ``tests/support``).

Session-wide (built once, read-only for the tests):

``registry``    the shipped circuits, loaded and hash-checked;
``shipped_circuit``  parametrized: each shipped circuit in turn (``tests.support.models.SHIPPED``,
                discovered from models/, never a list of names), for tests of "every shipped circuit";
``key_cache``   a temporary key-cache root holding the proving key of every shipped circuit,
                derived once per session (ezkl.setup is ~1 s per circuit); every test and
                every neuron process that proves uses it;
``prover``      an ``EzklProver`` over ``registry`` using ``key_cache``;
``proofs``      one fresh proof per circuit: {circuit name: (inputs, ProveResult)};
``real``        (circuit, prover, verifier) for wine_mlp, the smallest shipped circuit (named on
                purpose: the tests using it rely on its 13-value input);
``real_proof``  (inputs, ProveResult) of ``real``'s circuit;
``receipt``     the bytes of one receipt of ``real_proof``, as the validator writes it
                (``tests.support.receipts``: the real miner app, client, verifier, folder);
``wallets``     deterministic wallets by name: validator, validator2, miner, miner2, outsider;
``cast``        the admission tests' wallets and metagraph (``tests.support.cast``).

Per test: ``devnet``, an in-process devnet on a step clock (netuid 2, tempo 4,
weights rate limit 3). For the whole session the SDK's token-symbol cache is
kept out of the real home directory.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import numpy as np
import pytest

from execution_layer import CircuitRegistry, EzklProver
from tests.support.cast import Cast, make_cast
from tests.support.devnet import Devnet, StepClock, make_devnet
from tests.support.inputs import fresh_input
from tests.support.models import SHIPPED
from tests.support.wallets import make_wallet


@pytest.fixture(scope="session", autouse=True)
def _isolated_sdk_cache(tmp_path_factory) -> Iterator[None]:
    """The SDK writes a (display-only) token-symbol cache on connect: never into the real home."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("BTCLI_TOKEN_SYMBOLS_CACHE", str(tmp_path_factory.mktemp("sdk") / "token_symbols.json"))
        yield


@pytest.fixture(scope="session")
def registry() -> CircuitRegistry:
    return CircuitRegistry.load()


@pytest.fixture(params=SHIPPED)
def shipped_circuit(request, registry):
    """Each shipped circuit in turn, by the folder names the registry discovers."""
    return registry.by_name(request.param)


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


@pytest.fixture(scope="session")
def real(registry, prover):
    from neurons.validating.verifier_pool import make_registry_verifier

    # wine_mlp on purpose: the smallest shipped circuit, and tests using ``real`` rely on its layout.
    return registry.by_name("wine_mlp"), prover, make_registry_verifier()


@pytest.fixture(scope="session")
def real_proof(real, proofs):
    return proofs[real[0].name]


@pytest.fixture(scope="session")
def receipt(cast, real, real_proof, tmp_path_factory) -> bytes:
    from tests.support.receipts import challenge_keeping_receipts, receipt_folder

    folder = receipt_folder(cast, tmp_path_factory.mktemp("receipts"))
    record = asyncio.run(challenge_keeping_receipts(cast, real[0], real[2], real_proof, folder))
    assert record.verified, record.reason
    (path,) = folder.folder.glob("*.json")
    return path.read_bytes()


@pytest.fixture(scope="session")
def wallets(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("wallets")
    names = ["validator", "validator2", "miner", "miner2", "outsider"]
    return {name: make_wallet(root, name, seed) for seed, name in enumerate(names, start=1)}


@pytest.fixture(scope="session")
def cast(tmp_path_factory) -> Cast:
    return make_cast(tmp_path_factory.mktemp("cast"))


@pytest.fixture
def devnet(tmp_path) -> Devnet:
    """A StepClock devnet for the plaintext weights path: commit-reveal is off (the contract
    tests of the commit path, test_commit_reveal.py, build their own with it on)."""
    return make_devnet(tmp_path, clock=StepClock(), tempo=4, weights_rate_limit=3,
                       commit_reveal_weights_enabled=False)
