"""neurons/localnet.py's table: which round's weights the incentive line comes from."""

from __future__ import annotations

import dataclasses

from neurons.localnet import _weights_origin
from tests.support.chain import metagraph_of, neuron

VALIDATOR = 0


def _view(last_update: int):
    me = dataclasses.replace(neuron(VALIDATOR, "5" + "V" * 47), last_update=last_update)
    return metagraph_of(2, [me, neuron(1, "5" + "M" * 47)], block=30)


def _round(index: int, landed_at: int | None) -> dict:
    weights = None if landed_at is None else {"ok": True, "error": None, "block": landed_at}
    return {"round": index, "weights": weights}


def test_the_incentive_is_attributed_to_the_round_whose_weights_landed_last():
    reports = [_round(1, 10), _round(2, 12), _round(3, None)]
    assert _weights_origin(_view(12), VALIDATOR, reports) == "weights of round 2, landed at block 12"


def test_weights_landed_after_the_rounds_are_named_as_such():
    """set_final_weights writes after the last round: no round report holds that block."""
    reports = [_round(1, 10), _round(2, None)]
    assert _weights_origin(_view(14), VALIDATOR, reports) == (
        "weights set after the last round, landed at block 14"
    )


def test_no_weights_yet_says_so():
    assert _weights_origin(_view(0), VALIDATOR, [_round(1, None)]) == "no weights landed yet"
