"""This validator's requests in flight to each miner lane: never more than it takes, clients first.

A miner admits at most ``max_per_caller`` requests of one validator per lane (by default
the lane's workers, ``Capabilities.lanes[i].max_concurrent``) and answers 503 ``busy`` to
more. Challenges and client (API) requests come from the same hotkey, so they share that
room: :class:`MinerSlots` is the one account of it, a slot per request in flight, keyed by
miner and lane.

The priority rule, decided when a slot frees up (and when a request asks for one):

1. a waiting challenge that has waited ``max_yield_s`` or longer goes first (so a stream
   of client requests delays a miner's challenge by at most about that, never starves it:
   a round still scores every miner);
2. else the longest-waiting client request;
3. else the longest-waiting challenge.

A request is granted a free slot at once when nobody waits; slots are handed to waiters as
they free up (or as the lane announces more room), so a request arriving later never
overtakes one that waits. Waiting is bounded by each
caller's ``timeout`` (:class:`NoSlot`); a waiter that is cancelled or times out leaves
the queue (a slot granted to it at that instant is passed on). Use it from one event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Hashable, Sequence
from dataclasses import dataclass, field

__all__ = ["MinerSlots", "NoSlot", "MAX_YIELD_S", "lane_key"]

MAX_YIELD_S = 10.0
"""How long a challenge gives way to client requests before it takes the next free slot."""


def lane_key(uid: int, hotkey: str, lane_circuits: Sequence[str] | None) -> Hashable:
    """The slot key of a miner's lane: uid, hotkey (a new miner in the uid is another miner) and
    the lane's circuits (None: the whole miner, when its lanes are not known)."""
    return (uid, hotkey, tuple(lane_circuits) if lane_circuits is not None else None)


class NoSlot(TimeoutError):
    """No slot of the lane freed up for this request within its timeout."""


@dataclass
class _Waiter:
    client: bool
    since: float
    granted: asyncio.Future[None]


@dataclass
class _Lane:
    capacity: int
    held: int = 0
    waiting: deque[_Waiter] = field(default_factory=deque)


class MinerSlots:
    """Slots per miner lane (see the module docstring). ``clock`` is monotonic seconds."""

    def __init__(self, *, max_yield_s: float = MAX_YIELD_S, clock: Callable[[], float] = time.monotonic) -> None:
        self.max_yield_s = max_yield_s
        self._clock = clock
        self._lanes: dict[Hashable, _Lane] = {}

    def free(self, key: Hashable, capacity: int) -> int:
        """Slots of ``key`` a request could take at once (0 while any request waits for one)."""
        lane = self._lanes.get(key)
        if lane is None:
            return max(capacity, 1)
        return 0 if lane.waiting else max(0, max(capacity, 1) - lane.held)

    def waiting(self, key: Hashable) -> int:
        """Requests waiting for a slot of ``key``."""
        lane = self._lanes.get(key)
        return len(lane.waiting) if lane is not None else 0

    def held(self, key: Hashable) -> int:
        """Slots of ``key`` held now."""
        lane = self._lanes.get(key)
        return lane.held if lane is not None else 0

    @contextlib.asynccontextmanager
    async def hold(self, key: Hashable, capacity: int, *, client: bool, timeout: float) -> AsyncIterator[None]:
        """Hold one slot of ``key`` (a lane taking ``capacity`` at once, at least 1) for the block.

        ``client`` marks a client request (it goes before challenges). Raises
        :class:`NoSlot` when no slot is granted within ``timeout`` seconds.
        """
        lane = self._lanes.get(key)
        if lane is None:
            lane = self._lanes[key] = _Lane(max(capacity, 1))
        lane.capacity = max(capacity, 1)  # the miner's latest word on its lane
        self._grant(lane)  # more room than before lets waiters in now
        await self._acquire(lane, client, timeout)
        try:
            yield
        finally:
            lane.held -= 1
            self._grant(lane)
            if lane.held == 0 and not lane.waiting:
                self._lanes.pop(key, None)

    async def _acquire(self, lane: _Lane, client: bool, timeout: float) -> None:
        if lane.held < lane.capacity and not lane.waiting:
            lane.held += 1
            return
        waiter = _Waiter(client, self._clock(), asyncio.get_running_loop().create_future())
        lane.waiting.append(waiter)
        try:
            async with asyncio.timeout(max(timeout, 0.0)):
                await asyncio.shield(waiter.granted)
        except BaseException as error:
            if waiter.granted.done() and not waiter.granted.cancelled():
                lane.held -= 1  # granted as we gave up: pass it on
                self._grant(lane)
            else:
                waiter.granted.cancel()
                with contextlib.suppress(ValueError):
                    lane.waiting.remove(waiter)
            if isinstance(error, TimeoutError):
                raise NoSlot(f"no slot free within {timeout:.1f}s") from None
            raise

    def _grant(self, lane: _Lane) -> None:
        while lane.held < lane.capacity and lane.waiting:
            waiter = self._next(lane)
            lane.waiting.remove(waiter)
            lane.held += 1
            waiter.granted.set_result(None)

    def _next(self, lane: _Lane) -> _Waiter:
        now = self._clock()
        challenges = [w for w in lane.waiting if not w.client]
        if challenges and now - challenges[0].since >= self.max_yield_s:
            return challenges[0]
        clients = [w for w in lane.waiting if w.client]
        return clients[0] if clients else challenges[0]
