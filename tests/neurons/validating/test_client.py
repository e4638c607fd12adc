"""neurons.validating.client: every way a miner can misbehave ends in a QueryOutcome, never a raise."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from neurons.mining.app import build_miner_app
from neurons.mining.guard import sign_response
from neurons.shared.proofs import proof_response
from neurons.validating.client import MinerClient, QueryStatus, _url
from protocol import ROUTE_PROVE, ProofRequest, encode, new_request_id
from tests.support.cast import MIN_STAKE, NETUID
from tests.support.provers import CIRCUIT_A, AsyncFakeProver, fake_result
from tests.support.wallets import hotkey_of

pytestmark = pytest.mark.anyio

AXON = ("10.0.0.1", 8091)


def proof_request(**fields) -> ProofRequest:
    values = dict(
        request_id=new_request_id(), circuit_id=CIRCUIT_A, inputs=(1.0, 2.0), deadline=time.time() + 30
    )
    values.update(fields)
    return ProofRequest(**values)


def miner_transport(cast, wallet=None) -> httpx.ASGITransport:
    app = build_miner_app(
        wallet=wallet or cast.miner, prove=AsyncFakeProver(), circuits={CIRCUIT_A},
        metagraph=cast.metagraph, netuid=NETUID, min_stake=MIN_STAKE, max_queue=2,
    )
    return httpx.ASGITransport(app)


class Tampering(httpx.AsyncBaseTransport):
    """Passes requests to ``inner`` and changes the first output digit of every response."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        resp = await self.inner.handle_async_request(request)
        body = bytearray(await resp.aread())
        at = body.index(b'"outputs":[') + len(b'"outputs":[')
        body[at] = ord("9") if body[at] != ord("9") else ord("8")
        headers = [(k, v) for k, v in resp.headers.items() if k.lower() != "content-length"]
        return httpx.Response(resp.status_code, headers=headers, content=bytes(body))


def answering(signer, body_for, *, status=200, receiver=None, sign=True):
    """A mock miner answering ``body_for(request)`` signed by ``signer``'s hotkey."""

    async def handler(request: httpx.Request) -> httpx.Response:
        body = body_for(request)
        headers = {}
        if sign:
            headers = sign_response(
                signer, route=request.url.path, request_nonce=request.headers["X-Bittensor-Nonce"],
                body=body, receiver=receiver or request.headers["X-Bittensor-Hotkey"],
                nonce_ns=time.time_ns(),
            )
        return httpx.Response(status, content=body, headers=headers)

    return httpx.MockTransport(handler)


def genuine_body(request: httpx.Request, **changes) -> bytes:
    req = ProofRequest.model_validate_json(request.content)
    resp = proof_response(
        fake_result(req.circuit_id, req.inputs), request_id=req.request_id, queue_s=0.0
    )
    return encode(resp.model_copy(update=changes))


async def query(cast, transport, request=None, **client_options):
    async with MinerClient(cast.validator, transport=transport, **client_options) as client:
        return await client.prove(AXON, hotkey_of(cast.miner), request or proof_request())


async def test_genuine_answer_from_the_real_app_is_ok(cast):
    outcome = await query(cast, miner_transport(cast))
    assert outcome.status is QueryStatus.OK and outcome.ok, outcome.detail
    assert outcome.http_status == 200 and outcome.body_bytes > 0 and outcome.response_s >= 0


async def test_genuine_answer_from_a_mock_miner_is_ok(cast):
    outcome = await query(cast, answering(cast.miner, genuine_body))
    assert outcome.status is QueryStatus.OK, outcome.detail


async def test_tampered_response_body_is_bad_signature(cast):
    outcome = await query(cast, Tampering(miner_transport(cast)))
    assert outcome.status is QueryStatus.BAD_SIGNATURE and outcome.response is None
    assert "BadSignature" in outcome.detail


async def test_answer_signed_by_another_hotkey_is_bad_signature(cast):
    """Someone else at the axon's address, answering with a valid signature of its own."""
    outcome = await query(cast, answering(cast.stranger, genuine_body))
    assert outcome.status is QueryStatus.BAD_SIGNATURE
    assert hotkey_of(cast.miner) in outcome.detail


async def test_answer_addressed_to_another_validator_is_bad_signature(cast):
    outcome = await query(cast, answering(cast.miner, genuine_body, receiver=hotkey_of(cast.poor)))
    assert outcome.status is QueryStatus.BAD_SIGNATURE


async def test_unsigned_answer_is_bad_signature(cast):
    outcome = await query(cast, answering(cast.miner, genuine_body, sign=False))
    assert outcome.status is QueryStatus.BAD_SIGNATURE


async def test_answer_replayed_from_an_earlier_request_is_bad_signature(cast):
    """A signed answer is bound to its request's nonce; it cannot serve a later request."""
    recorded: dict[str, httpx.Response] = {}
    real = miner_transport(cast)

    async def replaying(request: httpx.Request) -> httpx.Response:
        if "first" not in recorded:
            resp = await real.handle_async_request(request)
            recorded["first"] = httpx.Response(
                resp.status_code, headers=resp.headers, content=await resp.aread()
            )
        return recorded["first"]

    transport = httpx.MockTransport(replaying)
    request = proof_request()
    assert (await query(cast, transport, request)).status is QueryStatus.OK
    assert (await query(cast, transport, request)).status is QueryStatus.BAD_SIGNATURE


async def test_signed_garbage_is_bad_response(cast):
    outcome = await query(cast, answering(cast.miner, lambda r: b'{"proof": 1}'))
    assert outcome.status is QueryStatus.BAD_RESPONSE and "invalid ProofResponse" in outcome.detail


@pytest.mark.parametrize("changed", [{"request_id": "f" * 32}, {"circuit_id": "c" * 64}],
                         ids=["request-id", "circuit-id"])
async def test_a_signed_answer_for_another_request_or_circuit_is_bad_response(cast, changed):
    """The client is the one place the echo is checked: challenge_miner relies on it."""
    body = lambda r: genuine_body(r, **changed)  # noqa: E731
    outcome = await query(cast, answering(cast.miner, body))
    assert outcome.status is QueryStatus.BAD_RESPONSE and outcome.response is None
    assert "another request or circuit" in outcome.detail


async def test_refusal_is_http_error_with_the_miners_reason(cast):
    outcome = await query(cast, miner_transport(cast), proof_request(circuit_id="c" * 64))
    assert outcome.status is QueryStatus.HTTP_ERROR and outcome.http_status == 404
    assert outcome.error is not None and outcome.error.code.value == "unknown_circuit"


async def test_non_protocol_error_page_is_http_error(cast):
    outcome = await query(cast, answering(cast.miner, lambda r: b"<html>502</html>", status=502))
    assert outcome.status is QueryStatus.HTTP_ERROR and outcome.error is None
    assert outcome.http_status == 502


async def test_endless_response_is_cut_off_at_the_limit(cast):
    """The client stops reading past the limit instead of buffering an endless body."""
    served = []

    async def endless():
        while True:
            served.append(1)
            yield b"x" * 1024

    transport = httpx.MockTransport(lambda r: httpx.Response(200, content=endless()))
    outcome = await query(cast, transport, max_response_bytes=10 * 1024)
    assert outcome.status is QueryStatus.BAD_RESPONSE and "stopped reading" in outcome.detail
    assert 10 * 1024 < outcome.body_bytes <= 11 * 1024
    assert len(served) <= 12


async def test_declared_oversized_response_is_not_read(cast):
    transport = httpx.MockTransport(
        lambda r: httpx.Response(200, headers={"content-length": "999999999"}, content=b"")
    )
    outcome = await query(cast, transport, max_response_bytes=1024)
    assert outcome.status is QueryStatus.BAD_RESPONSE and outcome.body_bytes == 0


async def test_slow_miner_is_a_timeout(cast):
    async def stalls(request):
        await asyncio.sleep(30)

    outcome = await query(cast, httpx.MockTransport(stalls), timeout=0.2)
    assert outcome.status is QueryStatus.TIMEOUT and outcome.response is None


async def test_request_past_its_deadline_is_not_sent(cast):
    sent = []
    transport = httpx.MockTransport(lambda r: sent.append(r) or httpx.Response(200))
    outcome = await query(cast, transport, proof_request(deadline=time.time() - 1))
    assert outcome.status is QueryStatus.TIMEOUT and sent == []


async def test_unreachable_miner_is_a_connect_error(cast):
    def refuse(request):
        raise httpx.ConnectError("connection refused", request=request)

    outcome = await query(cast, httpx.MockTransport(refuse))
    assert outcome.status is QueryStatus.CONNECT_ERROR


async def test_connection_dropped_mid_answer_is_bad_response(cast):
    def drop(request):
        raise httpx.RemoteProtocolError("peer closed connection", request=request)

    outcome = await query(cast, httpx.MockTransport(drop))
    assert outcome.status is QueryStatus.BAD_RESPONSE


async def test_requests_are_signed_for_the_miner_with_fresh_nonces(cast):
    seen = []
    transport = httpx.MockTransport(lambda r: seen.append(r.headers) or httpx.Response(503))
    async with MinerClient(cast.validator, transport=transport) as client:
        for _ in range(3):
            await client.prove(AXON, hotkey_of(cast.miner), proof_request())
    assert {h["X-Bittensor-Receiver"] for h in seen} == {hotkey_of(cast.miner)}
    assert len({h["X-Bittensor-Nonce"] for h in seen}) == 3


def test_urls_for_ipv4_and_ipv6_axons():
    assert _url(("1.2.3.4", 80), ROUTE_PROVE) == "http://1.2.3.4:80/v1/prove"
    assert _url(("::1", 8091), ROUTE_PROVE) == "http://[::1]:8091/v1/prove"


async def test_compressed_answer_is_not_inflated(cast):
    transport = httpx.MockTransport(
        lambda r: httpx.Response(200, headers={"content-encoding": "gzip"}, content=b"\x1f\x8b")
    )
    outcome = await query(cast, transport)
    assert outcome.status is QueryStatus.BAD_RESPONSE and "gzip" in outcome.detail


@pytest.mark.parametrize("axon", [("1.2.3.4", 70000), ("1.2.3.4", 0), ("miner.example", 80), ("", 1)])
async def test_unusable_axon_address_is_a_connect_error_without_sending(cast, axon):
    sent = []
    transport = httpx.MockTransport(lambda r: sent.append(r) or httpx.Response(200))
    async with MinerClient(cast.validator, transport=transport) as client:
        outcome = await client.prove(axon, hotkey_of(cast.miner), proof_request())
    assert outcome.status is QueryStatus.CONNECT_ERROR and sent == []


async def test_the_real_connection_pool_holds_a_whole_subnets_queries_at_once(cast):
    """Tried: 300 queries at once through the client's own httpx pool (no injected transport) to
    a TCP server that answers none until all have connected (or 5 s pass). Must hold: all 300
    connections are open at the same time, so a round over a full subnet never waits on the
    validator's own pool (httpx's default of 100 would hold the rest back)."""
    wanted = 300
    connected = 0
    all_in = asyncio.Event()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connected
        connected += 1
        if connected >= wanted:
            all_in.set()
        try:
            await asyncio.wait_for(all_in.wait(), timeout=5)
        except TimeoutError:
            pass
        writer.write(b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        async with MinerClient(cast.validator, timeout=10) as client:
            outcomes = await asyncio.gather(*(
                client.prove(("127.0.0.1", port), hotkey_of(cast.miner), proof_request())
                for _ in range(wanted)
            ))
    finally:
        server.close()
        await server.wait_closed()
    assert all_in.is_set(), f"only {connected} of {wanted} connections were open at once"
    assert {o.http_status for o in outcomes} == {503}
