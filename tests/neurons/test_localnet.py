"""neurons/localnet.py's table: which round's commit the revealed weights and the incentive line come from."""

from __future__ import annotations

import dataclasses

import pytest

from neurons.devnet.admin import Reveal
from neurons.localnet import _incentive_origin, _reveal_line, _weights_origin
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


def _reveal(commit_block: int, outcome: str = "revealed", error: str = "") -> Reveal:
    return Reveal("5" + "V" * 47, 3, commit_block, 20, outcome, error, "why" if error else "")


def test_revealed_weights_name_the_commits_round_and_the_reveal_block():
    reports = [_round(1, 12), _round(2, 17)]
    assert _reveal_line(_reveal(17), _view(17), VALIDATOR, reports) == (
        "  (commit-reveal: committed at block 17 (round 2), revealed by the chain at block 20)"
    )
    assert _incentive_origin(_reveal(17), _view(17), VALIDATOR, reports) == (
        "of the epoch at block 20, right after the reveal of round 2's weights"
    )


def test_a_dropped_reveal_says_why_and_the_incentive_is_not_credited_to_it():
    reports = [_round(1, 17)]
    dropped = _reveal(17, "dropped", "IncorrectWeightVersionKey")
    assert _reveal_line(dropped, _view(17), VALIDATOR, reports).endswith(
        "dropped at its reveal at block 20: IncorrectWeightVersionKey: why)"
    )
    assert _incentive_origin(dropped, _view(17), VALIDATOR, reports).startswith("after the devnet epoch")


def test_a_commit_not_yet_revealed_is_named_pending():
    assert _reveal_line(None, _view(17), VALIDATOR, [_round(1, 17)]) == (
        "  (commit-reveal: the commit of block 17 (round 1) is not revealed yet)"
    )


def test_the_local_subnet_leaves_heavy_circuits_out_unless_asked(monkeypatch, caplog):
    """Tried: one shipped circuit counted heavy. Holds: the daemons are told the light ones only, the log
    names the one left out and --heavy; with --heavy (or nothing heavy) the daemons' default, every circuit."""
    from execution_layer import CircuitRegistry, timeouts
    from neurons import localnet

    registry = CircuitRegistry.load()
    heavy = registry.circuits[0]
    monkeypatch.setattr(timeouts, "is_heavy", lambda measured: measured == heavy.measured)
    caplog.set_level("INFO", logger="localnet")
    assert localnet._circuit_args(heavy=False) == [c.name for c in registry if c.name != heavy.name]
    assert f"heavy ones left out: {heavy.name} (pass --heavy" in caplog.text
    assert localnet._circuit_args(heavy=True) == []
    monkeypatch.setattr(timeouts, "is_heavy", lambda measured: False)
    assert localnet._circuit_args(heavy=False) == []
    monkeypatch.setattr(timeouts, "is_heavy", lambda measured: True)
    with pytest.raises(localnet.LocalnetError, match="every circuit is heavy .*pass --heavy"):
        localnet._circuit_args(heavy=False)
