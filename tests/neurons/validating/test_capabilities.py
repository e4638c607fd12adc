"""neurons.validating.capabilities, and MinerClient.capabilities under it.

The miners are the real miner app over ``httpx.ASGITransport`` (or a mock transport
for an older or silent miner); the clock is a number the test moves.
"""

from __future__ import annotations

import asyncio
import json
import time

import httpx
import pytest

from neurons.chain import NeuronInfo
from neurons.mining.app import build_miner_app
from neurons.mining.guard import sign_response
from neurons.validating.capabilities import CapabilityBook
from neurons.validating.client import MinerClient, QueryStatus
from protocol import ROUTE_CAPABILITIES, Lane
from tests.support.cast import MIN_STAKE, NETUID
from tests.support.chain import neuron, serving
from tests.support.network import RoutingTransport
from tests.support.provers import CIRCUIT_A, CIRCUIT_B, AsyncFakeProver
from tests.support.wallets import hotkey_of

pytestmark = pytest.mark.anyio

AXON = ("10.0.0.3", 8091)


def miner_app(cast, circuits=(CIRCUIT_A, CIRCUIT_B), workers=2) -> httpx.ASGITransport:
    return httpx.ASGITransport(build_miner_app(
        wallet=cast.miner, prove=AsyncFakeProver(), circuits=set(circuits), metagraph=cast.metagraph,
        netuid=NETUID, min_stake=MIN_STAKE, max_queue=3, max_concurrent=workers,
    ))


def older_miner(cast) -> httpx.MockTransport:
    """A miner of protocol version 1: well-formed, signed capabilities without lanes."""

    async def handler(request: httpx.Request) -> httpx.Response:
        body = json.dumps({"protocol_version": 1, "circuits": [CIRCUIT_A], "max_concurrent": 1,
                           "max_queue": 4}).encode()
        headers = sign_response(
            cast.miner, route=request.url.path, request_nonce=request.headers["X-Bittensor-Nonce"],
            body=body, receiver=request.headers["X-Bittensor-Hotkey"], nonce_ns=time.time_ns(),
        )
        return httpx.Response(200, content=body, headers=headers)

    return httpx.MockTransport(handler)


def miner(cast, uid: int = 0, axon=AXON) -> NeuronInfo:
    return serving(neuron(uid, hotkey_of(cast.miner)), axon)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_the_client_reads_a_miners_lanes(cast):
    async with MinerClient(cast.validator, transport=RoutingTransport({AXON: miner_app(cast)})) as client:
        outcome = await client.capabilities(AXON, hotkey_of(cast.miner))
    assert outcome.status is QueryStatus.OK, outcome.detail
    assert outcome.response.lanes == (
        Lane(circuits=(CIRCUIT_A,), max_concurrent=1, max_queue=3),
        Lane(circuits=(CIRCUIT_B,), max_concurrent=1, max_queue=3),
    )


async def test_capabilities_of_an_older_miner_are_a_bad_response_naming_both_versions(cast):
    async with MinerClient(cast.validator, transport=RoutingTransport({AXON: older_miner(cast)})) as client:
        outcome = await client.capabilities(AXON, hotkey_of(cast.miner))
    assert outcome.status is QueryStatus.BAD_RESPONSE and outcome.response is None
    assert "protocol version 1" in outcome.detail and "speaks 2" in outcome.detail


async def test_the_book_asks_once_in_the_background_then_answers_from_what_it_kept(cast):
    routing = RoutingTransport({AXON: miner_app(cast)})
    clock = Clock()
    async with MinerClient(cast.validator, transport=routing) as client:
        book = CapabilityBook(client, refresh_s=600, clock=clock)
        assert book.served(miner(cast)) is None  # not known yet: the round does not wait
        await book.settle()
        for _ in range(3):
            assert book.served(miner(cast)).circuits == (CIRCUIT_A, CIRCUIT_B)
        await book.settle()
        assert routing.seen_on(ROUTE_CAPABILITIES) == [AXON]
        clock.now += 600  # refreshed once stale; the kept answer serves meanwhile
        assert book.served(miner(cast)) is not None
        await book.settle()
        assert routing.seen_on(ROUTE_CAPABILITIES) == [AXON, AXON]


async def test_a_new_hotkey_or_axon_at_a_uid_is_asked_afresh_and_not_given_the_old_answer(cast):
    other = ("10.0.0.4", 8091)
    routing = RoutingTransport({AXON: miner_app(cast), other: miner_app(cast, circuits=(CIRCUIT_A,))})
    async with MinerClient(cast.validator, transport=routing) as client:
        book = CapabilityBook(client)
        book.served(miner(cast))
        await book.settle()
        assert book.served(miner(cast, axon=other)) is None
        await book.settle()
        assert book.served(miner(cast, axon=other)).circuits == (CIRCUIT_A,)
        stranger = serving(neuron(0, hotkey_of(cast.validator)), other)
        assert book.served(stranger) is None
        await book.settle()


async def test_a_miner_that_does_not_answer_is_unknown_and_asked_again_after_the_retry_period(cast):
    async def stall(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(10)
        return httpx.Response(500)

    routing = RoutingTransport({AXON: httpx.MockTransport(stall)})
    clock = Clock()
    async with MinerClient(cast.validator, transport=routing) as client:
        book = CapabilityBook(client, retry_s=120, budget_s=0.2, clock=clock)
        book.served(miner(cast))
        await book.settle()
        assert book.served(miner(cast)) is None
        assert routing.seen_on(ROUTE_CAPABILITIES) == [AXON]  # not asked again before the retry period
        clock.now += 120
        assert book.served(miner(cast)) is None
        await book.settle()
        assert routing.seen_on(ROUTE_CAPABILITIES) == [AXON, AXON]


async def test_closing_the_book_cancels_the_queries_under_way(cast):
    asked = asyncio.Event()

    async def stall(request: httpx.Request) -> httpx.Response:
        asked.set()
        await asyncio.sleep(10)
        return httpx.Response(500)

    async with MinerClient(cast.validator, transport=httpx.MockTransport(stall)) as client:
        book = CapabilityBook(client, budget_s=10)
        book.served(miner(cast))
        await asyncio.wait_for(asked.wait(), 5)
        async with asyncio.timeout(2):  # well before the query's own 10 s
            await book.aclose()
        assert book.served(miner(cast)) is None  # still unknown: nothing was kept
        await book.aclose()
