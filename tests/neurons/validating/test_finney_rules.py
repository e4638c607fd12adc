"""The validator on finney's rules, on the devnet's finney profile, through the real SDK.

The subnet is ``create-subnet --profile finney`` (tempo 360, weights rate limit 100, commit-reveal
on with a reveal period of 1, 64 permits, immunity 5000) on a stepped clock, so hours of finney
pass in a test. The validator is the real ``Validator`` on a real ``Chain``; its rounds challenge
nobody (the miners announce no axon), so what is under test is its weights: the SDK's unchanged
``SetWeights`` path commits them (timelock-encrypted, the real encryption), the devnet reveals them
an epoch later with every check of a plain ``set_weights``, and the validator reads them back.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging

import pytest

from neurons.chain import connect, load_wallet
from neurons.devnet import admin, runtime
from neurons.devnet.profiles import PROFILES
from neurons.devnet.substrate import DevnetSubstrate
from neurons.shared.version import VERSION_KEY
from neurons.validating.loop import Validator
from neurons.validating.replay_guard import ReplayGuard
from neurons.validating.state import StateStore, ValidatorState
from tests.support.devnet import NETUID, StepClock, make_devnet
from tests.support.provers import CIRCUIT_A, FakeCircuit, FakeVerifier

FINNEY = PROFILES["finney"].params


@pytest.fixture
def finney(tmp_path):
    return make_devnet(tmp_path, clock=StepClock(), validators=["v"], miners=["m1", "m2", "m3"],
                       **dataclasses.asdict(FINNEY))


async def _validator(net, tmp_path):
    chain = await connect("devnet", substrate=DevnetSubstrate(net.open()))
    wallet = load_wallet("v", "default", net.wallets)
    graph = await chain.metagraph(NETUID)
    store = StateStore(tmp_path / "state.json")
    miners = {n.uid: n.hotkey for n in graph.neurons if n.uid != 0}
    store.save(ValidatorState(averages={1: 0.2, 2: 0.3, 3: 0.5}, hotkeys=miners))
    validator = Validator(
        wallet=wallet, chain=chain, netuid=NETUID,
        circuits=[FakeCircuit(CIRCUIT_A, "fake-a", timeout_s=1.0)],
        client=None,  # type: ignore[arg-type]  # nobody serves: no miner is challenged
        verify=FakeVerifier(), store=store, guard=ReplayGuard(), version_key=VERSION_KEY,
    )
    return chain, validator


def test_the_profile_is_finneys_new_subnet():
    """Each value as subtensor sets a new finney subnet (neurons/devnet/profiles.py cites where)."""
    assert (FINNEY.tempo, FINNEY.weights_rate_limit, FINNEY.commit_reveal_weights_enabled,
            FINNEY.commit_reveal_period, FINNEY.immunity_period, FINNEY.max_allowed_validators,
            FINNEY.min_allowed_weights, FINNEY.max_weights_limit, FINNEY.max_uids) == (
        360, 100, True, 1, 5000, 64, 1, 65535, 256)
    assert PROFILES["finney"].block_time == 12.0


def test_a_commit_is_revealed_an_epoch_later_and_read_back_as_committed(finney, tmp_path, caplog):
    """Tried: a round's weights on finney rules. Must hold: the write is a timelocked commit
    (a reveal round, nothing in Weights yet, LastUpdate at the commit); one epoch later the
    devnet reveals exactly the committed row; the validator's next due round reads it back as
    committed, with no warning."""

    async def go():
        chain, validator = await _validator(finney, tmp_path)
        finney.clock.advance(FINNEY.weights_rate_limit + 1)  # a new uid waits out the rate limit
        first = await validator.run_round()
        before = await chain.weights_row(NETUID, 0)
        graph = await chain.metagraph(NETUID)
        finney.clock.advance(2 * FINNEY.tempo + 100)  # past the reveal and the validator's due block
        with caplog.at_level(logging.INFO, logger="validator"):
            await validator.run_round()
        after = await chain.weights_row(NETUID, 0)
        await chain.close()
        return first, before, graph, after, validator

    first, before, graph, after, validator = asyncio.run(go())
    assert first.weights is not None and first.weights.ok and first.weights.reveal_round is not None
    assert before == {}
    assert graph.by_uid(0).last_update == first.weights.block
    assert set(after) == {1, 2, 3} and max(after.values()) == 65535  # the SDK's max-upscaled u16 row
    report = admin.reveals(NETUID, state=finney.state, clock=finney.clock)
    assert [r.outcome for r in report.reveals] == ["revealed"]
    assert "as committed" in caplog.text and "NOT ON CHAIN" not in caplog.text


def test_a_reveal_the_chain_drops_is_a_loud_warning_naming_the_version_key(finney, tmp_path, caplog):
    """Tried: after the validator commits, the subnet owner raises weights_version_key above the
    validator's (the chain checks the key only at the reveal, and drops the reveal silently).
    Must hold: the commit succeeded; the devnet's reveals record shows the drop with
    IncorrectWeightVersionKey; the validator's next due round warns WEIGHTS NOT ON CHAIN with the
    version key as the likely reason, counts it and raises the unconfirmed gauge."""

    async def go():
        chain, validator = await _validator(finney, tmp_path)
        finney.clock.advance(FINNEY.weights_rate_limit + 1)
        first = await validator.run_round()
        with contextlib.closing(finney.open()) as store, store.transaction() as conn:  # the owner's sudo
            runtime.set_hyperparameter(conn, store.block(conn), NETUID, "weights_version", VERSION_KEY + 1)
        finney.clock.advance(2 * FINNEY.tempo + 100)
        with caplog.at_level(logging.WARNING, logger="validator"):
            await validator.run_round()
        row = await chain.weights_row(NETUID, 0)
        await chain.close()
        return first, row, validator

    first, row, validator = asyncio.run(go())
    assert first.weights is not None and first.weights.ok
    assert row == {}
    report = admin.reveals(NETUID, state=finney.state, clock=finney.clock)
    assert [(r.outcome, r.error) for r in report.reveals] == [("dropped", "IncorrectWeightVersionKey")]
    assert "WEIGHTS NOT ON CHAIN" in caplog.text and "version" in caplog.text
    sample = validator.metrics.registry.get_sample_value
    assert sample("poi_weights_unconfirmed") == 1
