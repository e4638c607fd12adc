"""The validator's weights meet the subnet's ``min_allowed_weights`` and ``max_weight_limit``.

Pure: ``scoring.conform_weights`` against the chain's two checks (subtensor
``subnets/weights.rs``: ``check_length``, ``max_weight_limited``), with the
weights passed through the SDK's own ``_conform`` (what ``bt.SetWeights.build``
does to them before signing). On a devnet that enforces the limits: the
validator's weights land, and an impossible subnet gets one WARNING and no submit.
"""

from __future__ import annotations

import asyncio
import logging
import math

import bittensor as bt
import pytest
from bittensor.intents.weights import _conform, _Preflight  # the SDK's step before signing
from hypothesis import given
from hypothesis import strategies as st

from neurons.chain import connect
from neurons.devnet.substrate import DevnetSubstrate
from neurons.shared.version import VERSION_KEY
from neurons.validating.loop import Validator
from neurons.validating.replay_guard import ReplayGuard
from neurons.validating.scoring import (
    U16_MAX,
    WeightLimits,
    conform_weights,
    normalized_weights,
    weights_intent,
)
from neurons.validating.state import StateStore, ValidatorState
from tests.support.devnet import CountingSubstrate, StepClock, make_devnet
from tests.support.properties import PROPERTY
from tests.support.provers import CIRCUIT_A, FakeCircuit, FakeVerifier

OWN = 0  # the validator's uid in these examples


def submitted(weights: dict[int, float], limits: WeightLimits, own_uid: int | None = OWN):
    """The (uids, u16 values) the SDK would sign for these weights (its ``_conform``)."""
    pre = _Preflight(uid=-1 if own_uid is None else own_uid, commit_reveal=False,
                     min_allowed_weights=limits.min_allowed_weights,
                     max_weight_limit=limits.max_weight_limit)
    return _conform(list(weights), list(weights.values()), pre, netuid=2)


def chain_refusal(uids: list[int], values: list[int], n: int, limits: WeightLimits) -> str | None:
    """The error subtensor's ``internal_set_weights`` raises for a non-self vector, or None.

    ``check_length``: at least ``min(MinAllowedWeights, subnet_n)`` entries;
    ``max_weight_limited``: max/sum <= limit/U16_MAX (skipped at U16_MAX).
    """
    if len(uids) < min(limits.min_allowed_weights, n):
        return "WeightVecLengthIsLow"
    total = sum(values)
    if limits.max_weight_limit != U16_MAX and total and max(values) * U16_MAX > limits.max_weight_limit * total:
        return "MaxWeightExceeded"
    return None


# --- examples: the two failures of issue 9 6(a) --------------------------------------------


def test_two_positive_scores_under_a_minimum_of_three_are_padded_with_a_zero_score_uid():
    limits = WeightLimits(min_allowed_weights=3)
    fitted = conform_weights({1: 0.2, 2: 0.6, 3: 0.0}, limits, registered=range(4), own_uid=OWN)
    assert fitted.problem is None and fitted.padded == (3,)  # a miner before our own uid
    uids, values = submitted(fitted.weights, limits)
    assert uids == [1, 2, 3] and values == [21845, 65535, 1]  # the pad is the least u16 weight
    assert chain_refusal(uids, values, 4, limits) is None


def test_three_miners_under_a_max_of_03_share_with_a_fourth_uid_and_none_exceeds_the_limit():
    limits = WeightLimits(max_weight_limit=round(0.3 * U16_MAX))
    fitted = conform_weights({1: 0.9, 2: 0.5, 3: 0.1}, limits, registered=range(4), own_uid=OWN)
    assert fitted.problem is None and fitted.padded == (OWN,)  # the only uid left: ours
    uids, values = submitted(fitted.weights, limits)
    assert uids == [0, 1, 2, 3]
    assert chain_refusal(uids, values, 4, limits) is None
    shares = {u: v / sum(values) for u, v in zip(uids, values)}
    assert max(shares.values()) <= 0.3
    assert shares[1] == pytest.approx(shares[2]) and shares[3] < shares[2]  # order kept
    assert shares[OWN] == pytest.approx(shares[3], rel=1e-3)  # the pad gets the smallest weight


def test_a_max_limit_below_what_the_scores_need_clips_and_redistributes_in_proportion():
    limits = WeightLimits(max_weight_limit=round(0.5 * U16_MAX))
    fitted = conform_weights({1: 8.0, 2: 1.0, 3: 1.0}, limits, registered=range(4), own_uid=OWN)
    assert fitted.padded == ()
    assert fitted.weights[1] == pytest.approx(0.5, abs=1e-4)
    assert fitted.weights[2] == pytest.approx(0.25, abs=1e-4) == fitted.weights[3]


def test_without_binding_limits_the_weights_are_the_normalized_scores():
    scores = {1: 0.2, 2: 0.6, 5: 0.0}
    assert conform_weights(scores, WeightLimits(1), registered=range(6)).weights == normalized_weights(scores)
    assert conform_weights(scores).weights == normalized_weights(scores)


def test_no_positive_score_is_nothing_to_write_not_a_problem():
    fitted = conform_weights({1: 0.0}, WeightLimits(min_allowed_weights=9), registered=range(2))
    assert fitted.weights == {} and fitted.problem is None


def test_a_minimum_above_the_registered_uids_is_a_problem_naming_the_hyperparameter():
    fitted = conform_weights({1: 0.5}, WeightLimits(min_allowed_weights=5), registered=range(4))
    assert fitted.weights == {} and fitted.problem is not None
    assert "at least 5 weights (min_allowed_weights)" in fitted.problem and "only 4 uids" in fitted.problem
    assert "lower min_allowed_weights" in fitted.problem


def test_a_max_limit_no_vector_over_the_registered_uids_can_meet_is_a_problem():
    limits = WeightLimits(max_weight_limit=round(0.2 * U16_MAX))  # needs 5 uids
    fitted = conform_weights({1: 0.5, 2: 0.5}, limits, registered=range(4))
    assert fitted.weights == {} and fitted.problem is not None
    assert "needs at least 5 weighted uids but only 4" in fitted.problem
    assert "raise max_weight_limit" in fitted.problem


def test_a_max_limit_met_only_by_an_even_split_over_every_uid_gives_the_even_split():
    limits = WeightLimits(max_weight_limit=16384)  # 16384 * 4 >= 65535: a quarter each just fits
    fitted = conform_weights({1: 0.9, 2: 0.1}, limits, registered=range(4), own_uid=OWN)
    assert fitted.problem is None and fitted.padded == (0, 3)
    uids, values = submitted(fitted.weights, limits)
    assert values == [U16_MAX] * 4 and chain_refusal(uids, values, 4, limits) is None


# --- the property: whatever the scores and limits, the chain accepts or we say why ----------


@st.composite
def cases(draw):
    n = draw(st.integers(1, 40))
    scores = draw(st.dictionaries(st.integers(0, n - 1), st.floats(0.0, 1.0) | st.just(0.0)))
    own = draw(st.none() | st.integers(0, n - 1))
    limits = WeightLimits(
        min_allowed_weights=draw(st.integers(0, n + 2)),
        max_weight_limit=draw(st.sampled_from([U16_MAX, 1]) | st.integers(1, U16_MAX)),
    )
    return n, scores, own, limits


@PROPERTY
@given(case=cases())
def test_conformed_weights_pass_the_sdk_and_the_chain_or_say_why_none_can(case):
    n, scores, own, limits = case
    fitted = conform_weights(scores, limits, registered=range(n), own_uid=own)
    positive = {u for u, s in scores.items() if s > 0}
    feasible = limits.min_allowed_weights <= n and (
        limits.max_weight_limit == U16_MAX or limits.max_weight_limit * n >= U16_MAX
    )
    if not positive:
        assert fitted.weights == {} and fitted.problem is None
        return
    assert (fitted.problem is None) == feasible
    if not feasible:
        assert fitted.weights == {}
        return
    assert math.fsum(fitted.weights.values()) == pytest.approx(1.0)
    assert set(fitted.weights) == positive | set(fitted.padded) and not positive & set(fitted.padded)
    if own in fitted.padded:  # our own uid pads only once every other uid is used
        assert set(range(n)) - {own} <= set(fitted.weights)
    uids, values = submitted(fitted.weights, limits, own)  # the SDK does not raise
    assert set(uids) <= set(fitted.weights)  # it drops only what quantises to 0
    assert chain_refusal(uids, values, n, limits) is None
    w = fitted.weights
    floor = min(w[u] for u in positive)
    assert all(w[p] <= floor * (1 + 1e-9) for p in fitted.padded)  # a pad never beats a miner
    for a in positive:  # a higher score never gets less weight
        for b in positive:
            if scores[a] > scores[b]:
                assert w[a] >= w[b] * (1 - 1e-9)


# --- on a devnet that enforces the limits --------------------------------------------------

NETUID = 2
MINERS = ("m1", "m2", "m3")


def write_weights(tmp_path, averages: dict[int, float], **params: int):
    """Validator uid 0 (staked, permitted) and miners uids 1..3 on a devnet with ``params``;
    one ``maybe_set_weights`` from ``averages`` (a commit: commit-reveal is on, as on finney);
    returns its result, the weights the chain revealed one tempo later and the number of
    submits."""
    net = make_devnet(tmp_path, clock=StepClock(), tempo=4, weights_rate_limit=3,
                      validators=["validator"], miners=MINERS, **params)
    wallet = bt.wallets.open_wallet("validator", path=str(net.wallets))
    hotkeys = {i + 1: bt.wallets.open_wallet(m, path=str(net.wallets)).hotkeypub.ss58_address
               for i, m in enumerate(MINERS)}
    net.advance_past_registration()

    async def go():
        substrate = CountingSubstrate(DevnetSubstrate(net.open()))
        chain = await connect("devnet", substrate=substrate)
        store = StateStore(tmp_path / "state" / "state.json")
        store.save(ValidatorState(averages=averages, hotkeys=hotkeys))
        validator = Validator(
            wallet=wallet, chain=chain, netuid=NETUID,
            circuits=[FakeCircuit(CIRCUIT_A, "fake-a", timeout_s=1.0)],
            client=None,  # type: ignore[arg-type]  # no miner is challenged here
            verify=FakeVerifier(), store=store, guard=ReplayGuard(), version_key=VERSION_KEY,
        )
        result = await validator.maybe_set_weights()
        net.clock.advance(4)  # to the next epoch block: the commit's reveal epoch (period 1)
        stored = await chain.weights_of(NETUID, 0)
        await chain.close()
        return result, stored, substrate.submits

    return asyncio.run(go())


def test_on_a_devnet_with_a_minimum_of_three_weights_two_positive_scores_land(tmp_path):
    result, stored, _ = write_weights(tmp_path, {1: 0.2, 2: 0.6, 3: 0.0}, min_allowed_weights=3)
    assert result is not None and result.ok, result
    assert sorted(stored) == [1, 2, 3]
    assert stored[1] == pytest.approx(0.25, abs=1e-4) and stored[2] == pytest.approx(0.75, abs=1e-4)


def test_on_a_devnet_with_a_max_weight_of_03_three_miners_land_within_it(tmp_path):
    limit = round(0.3 * U16_MAX)
    result, stored, _ = write_weights(tmp_path, {1: 0.9, 2: 0.5, 3: 0.1}, max_weights_limit=limit)
    assert result is not None and result.ok, result
    assert sorted(stored) == [0, 1, 2, 3] and max(stored.values()) <= limit / U16_MAX


def test_on_a_devnet_whose_minimum_exceeds_its_uids_one_warning_and_nothing_is_submitted(tmp_path, caplog):
    caplog.set_level(logging.INFO)
    result, stored, submits = write_weights(tmp_path, {1: 0.2, 2: 0.6}, min_allowed_weights=5)
    assert result is None and submits == 0 and stored == {}
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "min_allowed_weights" in warnings[0], warnings
    # The write stops there: not mistaken for "no positive score" further down.
    assert not any("no miner has a positive score" in r.getMessage() for r in caplog.records)


def test_weights_intent_of_conformed_weights_keeps_them():
    fitted = conform_weights({1: 0.2, 2: 0.6}, WeightLimits(3), registered=range(4), own_uid=OWN)
    intent = weights_intent(fitted.weights, NETUID, VERSION_KEY)
    assert intent is not None and intent.uids == [1, 2, 3]
    assert intent.weights == pytest.approx(list(fitted.weights.values()), rel=1e-12)
