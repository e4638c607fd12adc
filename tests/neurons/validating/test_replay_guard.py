"""Replay guard: no input issued twice, no proof accepted twice, memory bounded."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from execution_layer.types import Proof
from neurons.validating.replay_guard import InputsExhausted, ReplayGuard
from tests.support.properties import PROPERTY


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def proof(data: bytes, circuit="c", instances=(("01",),)) -> Proof:
    return Proof(circuit_id=circuit, instances=instances, proof=data)


@pytest.fixture
def clock():
    return Clock()


def test_same_proof_bytes_are_refused_the_second_time(clock):
    g = ReplayGuard(clock=clock)
    assert g.admit_proof(proof(b"abc"))
    assert not g.admit_proof(proof(b"abc"))
    assert g.admit_proof(proof(b"abd"))


def test_replayed_proof_is_refused_even_with_other_instances_or_circuit(clock):
    g = ReplayGuard(clock=clock)
    assert g.admit_proof(proof(b"xyz", circuit="a", instances=(("01",),)))
    assert not g.admit_proof(proof(b"xyz", circuit="b", instances=(("02",),)))


def test_identical_instances_with_distinct_proofs_are_admitted(clock):
    """Honest miners given the same input produce the same instances but different proofs."""
    g = ReplayGuard(clock=clock)
    assert g.admit_proof(proof(b"p1", instances=(("05", "07"),)))
    assert g.admit_proof(proof(b"p2", instances=(("05", "07"),)))


def test_same_input_is_never_claimed_twice(clock):
    g = ReplayGuard(clock=clock)
    assert g.claim_input("c", [0.1, 0.2])
    assert not g.claim_input("c", np.array([0.1, 0.2]))
    assert g.claim_input("other", [0.1, 0.2])  # other circuit: other input
    assert g.claim_input("c", [[0.1, 0.2]])  # other shape: other input


def test_fresh_input_skips_repeats_from_the_generator(clock):
    g = ReplayGuard(clock=clock)
    values = iter([[1.0], [1.0], [1.0], [2.0]])
    assert g.fresh_input("c", lambda: next(values)) == [1.0]
    assert g.fresh_input("c", lambda: next(values)) == [2.0]


def test_the_same_values_as_ints_or_float32_are_the_same_input(clock):
    """Inputs are keyed by their float64 values: another dtype is not another input."""
    g = ReplayGuard(clock=clock)
    assert g.claim_input("c", [1, 2])
    assert not g.claim_input("c", [1.0, 2.0])
    assert g.claim_input("c", np.array([0.5, 0.25], dtype=np.float32))  # both exact in float32
    assert not g.claim_input("c", [0.5, 0.25])


def test_fresh_input_tries_eight_times_by_default(clock):
    g = ReplayGuard(clock=clock)
    g.claim_input("c", [3.0])
    calls = []

    def stuck():
        calls.append(None)
        return [3.0]

    with pytest.raises(InputsExhausted):
        g.fresh_input("c", stuck)
    assert len(calls) == 8


def test_fresh_input_gives_up_on_a_generator_without_entropy(clock):
    g = ReplayGuard(clock=clock)
    g.fresh_input("c", lambda: [3.0])
    with pytest.raises(InputsExhausted, match="not random enough"):
        g.fresh_input("c", lambda: [3.0], attempts=4)


def test_entries_expire_after_the_window(clock):
    g = ReplayGuard(window_s=60.0, clock=clock)
    g.admit_proof(proof(b"old"))
    g.claim_input("c", [1.0])
    clock.now += 59.0
    assert not g.admit_proof(proof(b"old"))
    clock.now += 2.0  # first sighting 61 s ago: expired (a refused repeat does not renew it)
    assert g.admit_proof(proof(b"old"))
    assert g.claim_input("c", [1.0])


def test_an_entry_is_forgotten_exactly_window_s_after_it_was_first_seen(clock):
    g = ReplayGuard(window_s=60.0, clock=clock)
    g.admit_proof(proof(b"old"))
    g.claim_input("c", [1.0])
    clock.now += 60.0
    assert g.admit_proof(proof(b"old"))
    assert g.claim_input("c", [1.0])


def test_default_window_is_six_hours(clock):
    g = ReplayGuard(clock=clock)
    g.admit_proof(proof(b"p"))
    clock.now += 6 * 3600.0 - 1.0
    assert not g.admit_proof(proof(b"p"))
    clock.now += 1.0
    assert g.admit_proof(proof(b"p"))


def test_default_bound_is_100_000_entries(clock):
    g = ReplayGuard(clock=clock)
    for i in range(100_001):
        g.admit_proof(proof(i.to_bytes(4, "big")))
    assert not g.admit_proof(proof((1).to_bytes(4, "big")))  # the oldest still remembered
    assert g.admit_proof(proof((0).to_bytes(4, "big")))  # the one pushed out


def test_a_sub_second_window_and_a_single_entry_are_valid_bounds(clock):
    g = ReplayGuard(window_s=0.5, max_entries=1, clock=clock)
    assert g.admit_proof(proof(b"a"))
    assert not g.admit_proof(proof(b"a"))
    assert g.admit_proof(proof(b"b"))  # pushes "a" out: room for one
    assert g.admit_proof(proof(b"a"))
    clock.now += 0.5
    assert g.admit_proof(proof(b"b"))  # "b" was pushed out; now "a" has expired too
    clock.now += 0.5
    assert g.admit_proof(proof(b"a"))


@PROPERTY
@given(
    window_s=st.integers(1, 20),
    max_entries=st.integers(1, 5),
    steps=st.lists(st.tuples(st.integers(0, 10), st.integers(0, 7)), max_size=60),
)
def test_a_proof_is_refused_exactly_while_remembered(window_s, max_entries, steps):
    """The contract, stated plainly: bytes are refused iff their last admission was less than
    ``window_s`` ago and fewer than ``max_entries`` admissions came after it."""
    clock = Clock()
    g = ReplayGuard(window_s=float(window_s), max_entries=max_entries, clock=clock)
    admitted: list[tuple[int, float]] = []  # (key, when), oldest first
    for advance, key in steps:
        clock.now += advance
        last = max((i for i, (k, _) in enumerate(admitted) if k == key), default=None)
        remembered = (
            last is not None
            and clock.now - admitted[last][1] < window_s
            and len(admitted) - 1 - last < max_entries
        )
        assert g.admit_proof(proof(bytes([key]))) is not remembered
        if not remembered:
            admitted.append((key, clock.now))


def test_memory_is_bounded_oldest_first(clock):
    g = ReplayGuard(max_entries=3, clock=clock)
    for i in range(5):
        clock.now += 1
        assert g.admit_proof(proof(bytes([i])))
    # The three newest are remembered (a refusal records nothing, so asking is safe) ...
    assert [g.admit_proof(proof(bytes([i]))) for i in (4, 3, 2)] == [False, False, False]
    # ... the two oldest were pushed out, oldest first, so they are new again.
    assert g.admit_proof(proof(bytes([1])))
    assert g.admit_proof(proof(bytes([0])))


def test_many_random_inputs_stay_within_the_bound(clock):
    """After 1000 inputs with room for 100, exactly the newest 100 are remembered."""
    g = ReplayGuard(max_entries=100, clock=clock)
    rng = np.random.default_rng(0)
    issued = [g.fresh_input("c", lambda: rng.random(4)) for _ in itertools.repeat(None, 1000)]
    assert not any(g.claim_input("c", x) for x in issued[900:])  # refusals record nothing
    assert g.claim_input("c", issued[899])  # the newest one that was pushed out


@pytest.mark.parametrize("kwargs", [{"window_s": 0}, {"max_entries": 0}])
def test_bad_bounds_are_refused(kwargs):
    with pytest.raises(ValueError):
        ReplayGuard(**kwargs)
