"""Settings for the property tests (hypothesis), shared so every property test runs the same way."""

from __future__ import annotations

from hypothesis import settings

__all__ = ["PROPERTY"]

# derandomize: the same examples on every run, so CI and a mutation run see one verdict, not a
# seed's; database=None: no failing examples replayed from an earlier run (hypothesis still keeps
# a cache in .hypothesis/, which ignores itself for git); deadline=None: the machine is shared and
# a slow example is not a failing one.
PROPERTY = settings(derandomize=True, database=None, deadline=None, max_examples=200)
