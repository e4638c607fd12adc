"""How a miner splits its prover workers among its circuits: lanes.

A lane is a queue of its own in front of some of the workers: its circuits' proofs
run only on its workers, so a slow circuit (a 29 s LSTM proof) holds its own lane and
never the worker a light circuit needs. :func:`plan_lanes` is the default split:

- ``workers >= circuits``: one lane per circuit; the workers are dealt out one by one
  in circuit-id order, so lanes differ by at most one worker (the first
  ``workers % circuits`` lanes get the extra ones);
- ``workers < circuits``: ``workers`` lanes of one worker each, the circuits dealt
  round-robin in id order, so circuits share lanes (with one worker, all share one: a
  slow proof then delays every other circuit, as before lanes existed).

Every lane has its own queue of ``max_queue`` waiting requests. The plan is pure and
deterministic; the miner announces it in its ``Capabilities.lanes``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["LanePlan", "plan_lanes"]


@dataclass(frozen=True)
class LanePlan:
    """One lane: the circuits it proves, on how many workers, with how many waiting."""

    circuits: tuple[str, ...]
    workers: int
    max_queue: int


def plan_lanes(circuits: Iterable[str], *, workers: int, max_queue: int) -> tuple[LanePlan, ...]:
    """The default lanes of ``workers`` workers over ``circuits`` (see the module docstring).

    No circuits: no lanes. Raises ``ValueError`` when ``workers < 1`` or ``max_queue < 0``.
    """
    if workers < 1 or max_queue < 0:
        raise ValueError("workers must be >= 1 and max_queue >= 0")
    ids = sorted(set(circuits))
    if not ids:
        return ()
    count = min(workers, len(ids))
    members: list[list[str]] = [[] for _ in range(count)]
    for i, circuit_id in enumerate(ids):
        members[i % count].append(circuit_id)
    base, extra = divmod(workers, count)
    return tuple(
        LanePlan(circuits=tuple(m), workers=base + (1 if i < extra else 0), max_queue=max_queue)
        for i, m in enumerate(members)
    )
