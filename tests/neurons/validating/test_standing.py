"""neurons.validating.standing: the validator's own standing, by the rules miners admit it by."""

from __future__ import annotations

import itertools

import pytest

from neurons.mining.guard import CallerPolicy, Forbidden
from neurons.validating.standing import Standing, standing_in
from tests.support.chain import metagraph_of, neuron

NETUID = 7
ME = "5" + "V" * 47


def view(*neurons, tempo=360):
    return metagraph_of(NETUID, neurons, tempo=tempo)


def test_a_registered_validator_with_a_permit_and_exactly_the_minimum_stake_may_ask():
    assert standing_in(view(neuron(3, ME, stake=1000.0)), ME, min_stake=1000.0) == Standing(
        permitted=True, uid=3, stake=1000.0)


def test_an_unregistered_hotkey_may_not_ask_and_is_told_to_register():
    s = standing_in(view(neuron(1, "5" + "M" * 47)), ME, min_stake=0.0)
    assert not s.permitted and s.uid is None and s.stake is None
    assert s.reason == f"hotkey {ME} is not registered on netuid {NETUID}"
    assert s.advice.endswith(f": btcli subnets register --netuid {NETUID}")


def test_no_permit_is_reported_before_low_stake_with_the_permit_epoch_and_the_stake_command():
    s = standing_in(view(neuron(4, ME, stake=5.0, permit=False), tempo=99), ME, min_stake=1000.0)
    assert not s.permitted and (s.uid, s.stake) == (4, 5.0)
    assert s.reason == "uid 4 has no validator permit (stake 5)"
    assert "every tempo (99 blocks)" in s.advice and "next permit epoch" in s.advice
    assert s.advice.endswith(f": btcli stake add --netuid {NETUID}")


def test_stake_under_the_minimum_may_not_ask_and_names_both_numbers_and_the_flag():
    s = standing_in(view(neuron(4, ME, stake=999.5)), ME, min_stake=1000.0)
    assert not s.permitted and s.reason == "uid 4 has stake 999.5, under the 1000 miners require"
    assert s.advice.endswith(f": btcli stake add --netuid {NETUID}") and "--validator.min_stake" in s.advice


@pytest.mark.parametrize(
    "registered, permit, stake, min_stake",
    list(itertools.product([True, False], [True, False], [0.0, 99.9, 100.0, 1e6], [0.0, 100.0])),
)
def test_the_validator_may_ask_exactly_when_a_miner_with_the_same_min_stake_would_serve_it(
    registered, permit, stake, min_stake
):
    """The standing mirrors the miner's CallerPolicy (the two sides share no code)."""
    others = [neuron(1, "5" + "M" * 47)]
    metagraph = view(*others, *([neuron(2, ME, stake=stake, permit=permit)] if registered else []))
    try:
        CallerPolicy(netuid=NETUID, min_stake=min_stake).check(ME, metagraph)
        served = True
    except Forbidden:
        served = False
    assert standing_in(metagraph, ME, min_stake=min_stake).permitted is served
