"""neurons.shared.connections: strangers cannot take the slots trusted addresses need; request
heads are bounded in time and size; every refusal is reported with its reason.

The gate's counts are tested as pure bookkeeping; the protocol over real TCP on 127.0.0.1
through ``neurons.shared.http_server`` (what the miner runs).
"""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest
from fastapi import FastAPI

from neurons.shared.connections import (
    ConnectionGate,
    ConnectionLimits,
    ConnectionPolicy,
    Refusal,
    RequestLimit,
    Slot,
    peer_ip,
)
from neurons.shared.http_server import bind, serving
from tests.support.ports import free_port

pytestmark = pytest.mark.anyio

STRANGER, VALIDATOR = "203.0.113.7", "198.51.100.1"


class Recorder:
    """A policy's ``on_refused``: the reasons in order."""

    def __init__(self) -> None:
        self.reasons: list[Refusal] = []

    def __call__(self, reason: Refusal) -> None:
        self.reasons.append(reason)


def gate_of(trusted=(), **limits) -> tuple[ConnectionGate, Recorder]:
    recorder = Recorder()
    policy = ConnectionPolicy(limits=ConnectionLimits(**limits), trusted=lambda: trusted, on_refused=recorder)
    return ConnectionGate(policy), recorder


# The gate: pure counts


def test_a_stranger_address_gets_per_ip_connections_and_the_next_is_refused_and_reported():
    gate, seen = gate_of(per_ip=2)
    assert isinstance(gate.open(STRANGER), Slot) and isinstance(gate.open(STRANGER), Slot)
    assert gate.open(STRANGER) is Refusal.PER_IP_LIMIT
    assert isinstance(gate.open("203.0.113.8"), Slot)  # another address has its own share
    assert seen.reasons == [Refusal.PER_IP_LIMIT]


def test_strangers_together_cannot_hold_more_than_their_total_but_a_trusted_address_still_connects():
    gate, seen = gate_of(trusted={VALIDATOR}, per_ip=1, strangers=3, per_trusted_ip=2)
    for n in range(3):
        assert isinstance(gate.open(f"203.0.113.{n}"), Slot)
    assert gate.open("203.0.113.99") is Refusal.CONNECTION_LIMIT
    assert gate.open(VALIDATOR) == Slot(VALIDATOR, trusted=True)
    assert isinstance(gate.open(VALIDATOR), Slot)
    assert gate.open(VALIDATOR) is Refusal.PER_IP_LIMIT  # a trusted address is capped too
    assert seen.reasons == [Refusal.CONNECTION_LIMIT, Refusal.PER_IP_LIMIT]


def test_closing_gives_the_slot_back_even_when_the_trusted_set_changed_in_between():
    trusted: set[str] = set()
    gate = ConnectionGate(ConnectionPolicy(limits=ConnectionLimits(per_ip=1, strangers=1), trusted=lambda: trusted))
    slot = gate.open(VALIDATOR)  # charged to the strangers while not trusted yet
    assert isinstance(slot, Slot) and gate.open(STRANGER) is Refusal.CONNECTION_LIMIT
    trusted.add(VALIDATOR)
    gate.close(slot)
    assert gate.connections == 0 and isinstance(gate.open(STRANGER), Slot)


def test_strangers_fill_only_their_share_of_requests_and_the_rest_stays_for_trusted_addresses():
    gate, seen = gate_of(trusted={VALIDATOR}, requests=3, stranger_requests=2)
    held = [gate.start_request(STRANGER), gate.start_request(STRANGER)]
    assert gate.start_request(STRANGER) is Refusal.REQUEST_LIMIT
    mine = gate.start_request(VALIDATOR)
    assert isinstance(mine, Slot) and gate.start_request(VALIDATOR) is Refusal.REQUEST_LIMIT  # total reached
    gate.end_request(held[0])
    assert isinstance(gate.start_request(STRANGER), Slot)
    assert seen.reasons == [Refusal.REQUEST_LIMIT, Refusal.REQUEST_LIMIT]


def test_an_ipv4_peer_of_a_dual_stack_listener_is_known_by_its_ipv4_address():
    """So a validator announced at a.b.c.d is trusted when the miner listens on ``::``."""
    assert peer_ip("::ffff:198.51.100.1") == "198.51.100.1"
    assert peer_ip("2001:db8::1") == "2001:db8::1" and peer_ip("198.51.100.1") == "198.51.100.1"


def test_limits_that_cannot_work_are_refused_at_construction():
    with pytest.raises(ValueError):
        ConnectionLimits(per_ip=0)
    with pytest.raises(ValueError):
        ConnectionLimits(requests=4, stranger_requests=5)


async def test_a_request_over_the_strangers_share_is_503_and_the_app_is_not_called():
    gate, seen = gate_of(requests=1, stranger_requests=1)
    calls = []
    app = FastAPI()

    @app.get("/")
    async def index():
        calls.append(1)
        return {}

    held = gate.start_request("127.0.0.1")  # httpx's ASGITransport client address
    assert isinstance(held, Slot)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=RequestLimit(app, gate)), base_url="http://m") as c:
        refused = await c.get("/")
        gate.end_request(held)
        served = await c.get("/")
    assert refused.status_code == 503 and refused.headers["connection"] == "close"
    assert served.status_code == 200 and calls == [1]
    assert seen.reasons == [Refusal.REQUEST_LIMIT] and gate.requests == 0


# The protocol over TCP


def hello_app() -> FastAPI:
    app = FastAPI()

    @app.get("/hello")
    async def hello():
        return {"hello": 1}

    return app


async def read_until_closed(reader: asyncio.StreamReader, within: float) -> bytes:
    async with asyncio.timeout(within):
        return await reader.read()


async def test_a_client_dripping_header_lines_is_closed_at_the_header_timeout_and_counted():
    seen = Recorder()
    policy = ConnectionPolicy(limits=ConnectionLimits(header_timeout_s=0.5), on_refused=seen)
    port = free_port()
    async with serving(hello_app(), bind("127.0.0.1", port), policy=policy):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /hello HTTP/1.1\r\nHost: m\r\n")
        started = time.monotonic()
        closed = asyncio.ensure_future(reader.read())  # until the server closes
        for n in range(40):  # a header line every 0.1 s for 4 s: each resets uvicorn's own idle timer
            if closed.done():
                break
            writer.write(b"X-Drip-%d: 1\r\n" % n)
            await asyncio.sleep(0.1)
        rest = await asyncio.wait_for(closed, 5)
        elapsed = time.monotonic() - started
        writer.close()
    assert rest == b"" and elapsed < 3.5  # closed without an answer, long before the drip ended (4 s)
    assert seen.reasons == [Refusal.HEADER_TIMEOUT]


async def test_a_connection_that_sends_nothing_is_closed_at_the_header_timeout_and_counted():
    seen = Recorder()
    policy = ConnectionPolicy(limits=ConnectionLimits(header_timeout_s=0.3), on_refused=seen)
    port = free_port()
    async with serving(hello_app(), bind("127.0.0.1", port), policy=policy):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        assert await read_until_closed(reader, 5) == b""
        writer.close()
    assert seen.reasons == [Refusal.HEADER_TIMEOUT]


async def test_silence_on_a_kept_alive_connection_after_an_answer_is_not_counted_as_a_timeout():
    seen = Recorder()
    policy = ConnectionPolicy(limits=ConnectionLimits(header_timeout_s=0.3), on_refused=seen)
    port = free_port()
    async with serving(hello_app(), bind("127.0.0.1", port), policy=policy):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /hello HTTP/1.1\r\nHost: m\r\n\r\n")
        answer = await read_until_closed(reader, 5)
        writer.close()
    assert answer.startswith(b"HTTP/1.1 200") and seen.reasons == []


@pytest.mark.parametrize("pieces", [1, 50], ids=["one_write", "in_pieces"])
async def test_a_100_kb_header_block_is_431_and_closed_whether_sent_in_one_write_or_in_pieces(pieces):
    seen = Recorder()
    policy = ConnectionPolicy(on_refused=seen)
    port = free_port()
    head = b"GET /hello HTTP/1.1\r\nHost: m\r\n" + b"".join(b"X-H%d: %s\r\n" % (n, b"v" * 40) for n in range(2000))
    head += b"\r\n"
    assert len(head) > 100_000
    async with serving(hello_app(), bind("127.0.0.1", port), policy=policy):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        answer = asyncio.ensure_future(reader.read())  # until the server closes
        step = -(-len(head) // pieces)
        for start in range(0, len(head), step):
            if answer.done():
                break  # cut off mid-head, as it should be: sending more would only reset
            writer.write(head[start:start + step])
            await asyncio.sleep(0.01)
        answer = await asyncio.wait_for(answer, 5)
        writer.close()
    assert answer.startswith(b"HTTP/1.1 431")
    assert seen.reasons == [Refusal.HEADER_TOO_LARGE]


async def test_a_head_just_under_the_cap_in_one_write_is_served():
    port = free_port()
    head = b"GET /hello HTTP/1.1\r\nHost: m\r\nConnection: close\r\nX-Pad: "
    head += b"a" * (ConnectionLimits().max_header_bytes - len(head) - 8) + b"\r\n\r\n"
    async with serving(hello_app(), bind("127.0.0.1", port)):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(head)
        answer = await read_until_closed(reader, 5)
        writer.close()
    assert answer.startswith(b"HTTP/1.1 200")


async def test_a_garbled_head_is_400_and_counted_as_malformed():
    seen = Recorder()
    port = free_port()
    async with serving(hello_app(), bind("127.0.0.1", port), policy=ConnectionPolicy(on_refused=seen)):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"NOT HTTP AT ALL\r\n\r\n")
        answer = await read_until_closed(reader, 5)
        writer.close()
    assert answer.startswith(b"HTTP/1.1 400") and seen.reasons == [Refusal.MALFORMED]


async def test_a_connection_over_the_per_ip_cap_is_closed_at_once_unread_and_counted():
    seen = Recorder()
    policy = ConnectionPolicy(limits=ConnectionLimits(per_ip=2), on_refused=seen)
    port = free_port()
    async with serving(hello_app(), bind("127.0.0.1", port), policy=policy):
        held = [await asyncio.open_connection("127.0.0.1", port) for _ in range(2)]
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /hello HTTP/1.1\r\nHost: m\r\n\r\n")
        refused = await read_until_closed(reader, 5)
        writer.close()
        held[0][1].write(b"GET /hello HTTP/1.1\r\nHost: m\r\nConnection: close\r\n\r\n")
        served = await read_until_closed(held[0][0], 5)
        for _, w in held:
            w.close()
    assert refused == b"" and served.startswith(b"HTTP/1.1 200")
    assert seen.reasons == [Refusal.PER_IP_LIMIT]


def test_the_header_timeout_is_a_few_seconds_and_the_cap_8_kib():
    """The numbers the module docstring and docs promise operators."""
    limits = ConnectionLimits()
    assert limits.header_timeout_s <= 10 and limits.max_header_bytes == 8 * 1024
    assert limits.stranger_requests < limits.requests
