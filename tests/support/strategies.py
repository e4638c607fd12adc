"""Hypothesis strategies the fuzz tests share (the miner's requests, the validator's answers)."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

__all__ = ["JSON_VALUES", "PERCENT", "weighted"]

PERCENT = st.integers(0, 99)

# Any JSON value, nested a little: what a hostile peer can put where a field should be.
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=False)
    | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=10), inner, max_size=5),
    max_leaves=12,
)


def weighted(*choices: tuple[int, st.SearchStrategy[Any]]) -> st.SearchStrategy[Any]:
    """One of ``(weight, strategy)`` pairs, by weight in percent (hypothesis has no weights of its
    own, and ``sampled_from`` leans to its first elements): fuzzers use it to reach deep paths
    often rather than once in a thousand."""
    def pick(roll: int) -> st.SearchStrategy[Any]:
        for weight, strategy in choices:
            if roll < weight:
                return strategy
            roll -= weight
        return choices[-1][1]
    return PERCENT.flatmap(pick)
