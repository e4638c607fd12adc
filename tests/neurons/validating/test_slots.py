"""neurons.validating.slots: never more requests in flight to a lane than it takes; clients first,
challenges never starved."""

from __future__ import annotations

import asyncio

import pytest

from neurons.validating.slots import MinerSlots, NoSlot

pytestmark = pytest.mark.anyio

KEY = ("uid", "lane")


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


async def _enter(slots: MinerSlots, order: list[str], name: str, *, client: bool, release: asyncio.Event,
                 capacity: int = 1) -> None:
    async with slots.hold(KEY, capacity, client=client, timeout=5.0):
        order.append(name)
        await release.wait()


async def _settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_a_waiting_client_request_gets_the_slot_before_an_earlier_waiting_challenge():
    slots, order = MinerSlots(), []
    first, rest = asyncio.Event(), asyncio.Event()
    holder = asyncio.ensure_future(_enter(slots, order, "challenge-1", client=False, release=first))
    await _settle()
    waiting_challenge = asyncio.ensure_future(_enter(slots, order, "challenge-2", client=False, release=rest))
    await _settle()
    waiting_client = asyncio.ensure_future(_enter(slots, order, "client", client=True, release=rest))
    await _settle()
    assert order == ["challenge-1"] and slots.waiting(KEY) == 2
    first.set()
    await _settle()
    assert order == ["challenge-1", "client"]  # the client overtook the challenge waiting before it
    rest.set()
    await asyncio.gather(holder, waiting_challenge, waiting_client)
    assert order == ["challenge-1", "client", "challenge-2"]


async def test_a_challenge_that_waited_max_yield_goes_before_clients():
    clock = Clock()
    slots, order = MinerSlots(max_yield_s=10.0, clock=clock), []
    first, rest = asyncio.Event(), asyncio.Event()
    holder = asyncio.ensure_future(_enter(slots, order, "client-1", client=True, release=first))
    await _settle()
    challenge = asyncio.ensure_future(_enter(slots, order, "challenge", client=False, release=rest))
    await _settle()
    clock.t = 10.0
    client = asyncio.ensure_future(_enter(slots, order, "client-2", client=True, release=rest))
    await _settle()
    first.set()
    await _settle()
    assert order == ["client-1", "challenge"]
    rest.set()
    await asyncio.gather(holder, challenge, client)


async def test_never_more_holders_than_the_lane_takes():
    slots, peak, now = MinerSlots(), [0], [0]

    async def one(client: bool) -> None:
        async with slots.hold(KEY, 2, client=client, timeout=5.0):
            now[0] += 1
            peak[0] = max(peak[0], now[0])
            await asyncio.sleep(0.001)
            now[0] -= 1

    await asyncio.gather(*(one(i % 3 == 0) for i in range(30)))
    assert peak[0] == 2 and slots.held(KEY) == 0 and slots.waiting(KEY) == 0


async def test_a_lane_that_announces_more_room_lets_its_waiters_in_at_once():
    slots, order = MinerSlots(), []
    release = asyncio.Event()
    holder = asyncio.ensure_future(_enter(slots, order, "a", client=True, release=release))
    await _settle()
    waiter = asyncio.ensure_future(_enter(slots, order, "b", client=True, release=release))
    await _settle()
    assert order == ["a"] and slots.free(KEY, 1) == 0
    late = asyncio.ensure_future(_enter(slots, order, "c", client=False, release=release, capacity=2))
    await _settle()
    assert order == ["a", "b"]  # the waiter first, not the request that brought the news
    release.set()
    await asyncio.gather(holder, waiter, late)
    assert order == ["a", "b", "c"]


async def test_a_request_that_times_out_leaves_the_queue_and_frees_nothing_it_did_not_hold():
    slots = MinerSlots()
    release = asyncio.Event()
    holder = asyncio.ensure_future(_enter(slots, [], "a", client=False, release=release))
    await _settle()
    with pytest.raises(NoSlot, match="no slot free within 0.1s"):
        async with slots.hold(KEY, 1, client=True, timeout=0.1):
            pass
    assert slots.waiting(KEY) == 0 and slots.held(KEY) == 1
    release.set()
    await holder
    assert slots.held(KEY) == 0 and slots.free(KEY, 1) == 1


async def test_a_cancelled_waiter_leaves_the_queue():
    slots = MinerSlots()
    release = asyncio.Event()
    holder = asyncio.ensure_future(_enter(slots, [], "a", client=False, release=release))
    await _settle()
    waiter = asyncio.ensure_future(_enter(slots, [], "b", client=True, release=release))
    await _settle()
    waiter.cancel()
    await asyncio.gather(waiter, return_exceptions=True)
    assert slots.waiting(KEY) == 0
    release.set()
    await holder
    assert slots.held(KEY) == 0
