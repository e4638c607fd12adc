"""The devnet's ``set_weights`` refuses what subtensor refuses, for the two weight rules.

Reference: subtensor ``pallets/subtensor/src/subnets/weights.rs``,
``internal_set_weights`` steps 13-15: ``check_length`` (at least
``min(MinAllowedWeights, subnet_n)`` entries, zeros counted, a single self
weight exempt) and ``max_weight_limited`` (``epoch/math.rs::check_vec_max_limited``:
max/sum of the max-upscaled values at most ``MaxWeightsLimit / 65535``, skipped
at 65535, a single self weight exempt). Calls are dispatched straight into the
runtime (the SDK would clip and refuse before the chain could).
"""

from __future__ import annotations

import contextlib

import bittensor as bt
import pytest

from neurons.devnet import runtime
from neurons.devnet.runtime import U16_MAX, DispatchError
from tests.support.devnet import StepClock, make_devnet

NETUID = 2


def chain(tmp_path, **params: int):
    """Validator uid 0 (permitted) and miners uids 1..3; returns a ``set_weights(dests, values)``."""
    # Commit-reveal off: these are the plain set_weights rules (a reveal applies the same
    # function, test_commit_reveal.py).
    net = make_devnet(tmp_path, clock=StepClock(), tempo=4, weights_rate_limit=0, validators=["validator"],
                      miners=["m1", "m2", "m3"], commit_reveal_weights_enabled=False, **params)
    hotkey = bt.wallets.open_wallet("validator", path=str(net.wallets)).hotkeypub.ss58_address

    def set_weights(dests: list[int], values: list[int]) -> None:
        with contextlib.closing(net.open()) as store, store.transaction() as conn:
            runtime.dispatch(conn, store.block(conn), "SubtensorModule", "set_mechanism_weights",
                             {"netuid": NETUID, "mecid": 0, "dests": dests, "weights": values,
                              "version_key": 1 << 30}, hotkey)

    return set_weights


def refused(set_weights, dests, values) -> str | None:
    try:
        set_weights(dests, values)
    except DispatchError as error:
        return error.name
    return None


def test_fewer_weights_than_the_minimum_are_refused_zeros_count_and_self_weight_is_exempt(tmp_path):
    set_weights = chain(tmp_path, min_allowed_weights=3)
    assert refused(set_weights, [1, 2], [U16_MAX, 100]) == "WeightVecLengthIsLow"
    assert refused(set_weights, [0], [U16_MAX]) is None  # a single self weight
    assert refused(set_weights, [1, 2, 3], [U16_MAX, 100, 0]) is None  # the zero counts


def test_the_minimum_is_clamped_to_the_subnet_size(tmp_path):
    set_weights = chain(tmp_path, min_allowed_weights=9)  # 4 uids registered
    assert refused(set_weights, [0, 1, 2], [1, 1, 1]) == "WeightVecLengthIsLow"
    assert refused(set_weights, [0, 1, 2, 3], [1, 1, 1, 1]) is None


def test_a_weight_above_the_max_share_is_refused_and_one_at_it_passes(tmp_path):
    limit = 16384  # a quarter and a hair: four equal weights fit, a smaller fourth does not
    set_weights = chain(tmp_path, max_weights_limit=limit)
    assert refused(set_weights, [0, 1, 2, 3], [U16_MAX, U16_MAX, U16_MAX, 60000]) == "MaxWeightExceeded"
    assert refused(set_weights, [0, 1, 2, 3], [U16_MAX] * 4) is None


def test_a_max_share_exactly_at_the_limit_passes(tmp_path):
    set_weights = chain(tmp_path, max_weights_limit=21845)  # exactly a third: 21845 * 3 = 65535
    assert refused(set_weights, [1, 2, 3], [U16_MAX] * 3) is None
    assert refused(set_weights, [1, 2, 3], [U16_MAX, U16_MAX, U16_MAX - 1]) == "MaxWeightExceeded"


def test_a_single_non_self_weight_exceeds_any_max_limit_below_one(tmp_path):
    set_weights = chain(tmp_path, max_weights_limit=U16_MAX - 1)
    assert refused(set_weights, [1], [U16_MAX]) == "MaxWeightExceeded"
    assert refused(set_weights, [0], [U16_MAX]) is None  # self weight is exempt


def test_no_max_limit_at_u16_max(tmp_path):
    set_weights = chain(tmp_path, max_weights_limit=U16_MAX)
    assert refused(set_weights, [1], [U16_MAX]) is None
