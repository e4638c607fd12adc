"""neurons.mining.app: the miner's HTTP app, driven in process over ``httpx.ASGITransport``.

Every refusal must come before the prover is called, with the right status and an
``ErrorResponse`` body signed by the miner; the app must keep serving after failures.
"""

from __future__ import annotations

import asyncio
import functools
import json
import os
import signal
import time
from pathlib import Path

import bittensor as bt
import httpx
import pytest
from bittensor.http_auth import HEADER_NONCE

from execution_layer.types import InvalidInputs, ProvingFailed
from neurons.mining.app import build_miner_app
from neurons.shared.proofs import proof_of
from neurons.shared.prover_pool import ProverPool
from neurons.validating.client import MinerClient, QueryStatus
from neurons.validating.signing import verify_response
from protocol import (
    MAX_DEADLINE_S,
    MAX_INPUTS,
    MAX_REQUEST_BYTES,
    ROUTE_CAPABILITIES,
    ROUTE_PROVE,
    Capabilities,
    ErrorResponse,
    Lane,
    ProofRequest,
    decode,
    encode,
    new_request_id,
)
from tests.support.cast import MIN_STAKE, NETUID
from tests.support.chain import metagraph_of, neuron
from tests.support.observers import RecordingObserver
from tests.support.provers import (
    CIRCUIT_A,
    CIRCUIT_B,
    AsyncFakeProver,
    SlowProver,
    fake_result,
    worker_identity,
)
from tests.support.wallets import hotkey_of

pytestmark = pytest.mark.anyio

AXON = ("127.0.0.1", 8091)


class Miner:
    """A miner app with a fake prover, plus a raw client and the real MinerClient on it."""

    def __init__(self, cast, prover=None, **options):
        self.cast = cast
        self.prover = prover or AsyncFakeProver()
        self.observer = options.pop("observer", RecordingObserver())
        settings = dict(max_queue=2, max_concurrent=1, metagraph=cast.metagraph)
        settings.update(options)
        self.app = build_miner_app(
            wallet=cast.miner,
            prove=self.prover,
            circuits={CIRCUIT_A, CIRCUIT_B},
            netuid=NETUID,
            min_stake=MIN_STAKE,
            observer=self.observer,
            **settings,
        )
        self.transport = httpx.ASGITransport(self.app)
        self.raw = httpx.AsyncClient(transport=self.transport, base_url="http://miner")
        self.client = MinerClient(cast.validator, transport=self.transport, timeout=10)

    async def prove(self, *, client=None, **fields):
        client = client or self.client
        return await client.prove(AXON, hotkey_of(self.cast.miner), proof_request(**fields))

    def client_for(self, wallet) -> MinerClient:
        return MinerClient(wallet, transport=self.transport, timeout=10)

    async def post_raw(self, body: bytes, *, wallet=None, route=ROUTE_PROVE, headers=None):
        """POST ``body`` signed correctly by ``wallet`` (default: the validator)."""
        return await self.send_raw("POST", body, wallet=wallet, route=route, headers=headers)

    async def send_raw(self, method: str, body: bytes, *, wallet=None, route=ROUTE_PROVE, headers=None):
        """``method`` ``route`` with ``body``, signed correctly by ``wallet`` (default: the validator)."""
        if headers is None:
            headers = signed_headers(self.cast, method, route, body, wallet=wallet)
        return await self.raw.request(method, route, content=body, headers=headers)


def signed_headers(cast, method: str, route: str, body: bytes, *, wallet=None) -> dict[str, str]:
    """btauth/1 headers of a request to the cast's miner, signed by ``wallet`` (default: the validator)."""
    return bt.http_auth.sign(
        wallet or cast.validator, method=method, path=route, body=body,
        receiver_ss58=hotkey_of(cast.miner),
    )


def two_validators(cast):
    """A metagraph source where ``poor`` is a second permitted, staked validator."""

    def source():
        return metagraph_of(NETUID, [
            neuron(1, hotkey_of(cast.validator), stake=MIN_STAKE * 10),
            neuron(3, hotkey_of(cast.poor), stake=MIN_STAKE * 10),
        ])

    return source


def proof_request(**fields) -> ProofRequest:
    values = dict(
        request_id=new_request_id(), circuit_id=CIRCUIT_A, inputs=(1.0, 2.0), deadline=time.time() + 30
    )
    values.update(fields)
    return ProofRequest(**values)


def request_json(**overrides) -> bytes:
    body = json.loads(encode(proof_request()))
    body.update(overrides)
    return json.dumps(body).encode()


def error_of(resp: httpx.Response) -> ErrorResponse:
    return decode(ErrorResponse, resp.content, max_bytes=10_000)


async def test_valid_request_is_proved_and_answered(cast):
    miner = Miner(cast)
    outcome = await miner.prove(inputs=(1.0, 2.0, 3.0))
    assert outcome.status is QueryStatus.OK, outcome.detail
    assert outcome.response.outputs == (6.0,)
    assert proof_of(outcome.response) == fake_result(CIRCUIT_A, (1.0, 2.0, 3.0)).proof
    assert outcome.response.queue_s >= 0 and outcome.response.prove_s >= 0
    assert miner.prover.calls == [(CIRCUIT_A, (1.0, 2.0, 3.0))]
    assert miner.observer.requests == [(ROUTE_PROVE, "ok", 200)]
    assert [ok for _, _, ok in miner.observer.proofs] == [True]
    assert miner.observer.depths[-1] == (0, 0)


@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_capabilities_are_served_signed(cast, method):
    miner = Miner(cast, max_queue=5, max_concurrent=2)
    resp = await miner.send_raw(method, b"", route=ROUTE_CAPABILITIES)
    assert resp.status_code == 200
    verify_response(
        resp.headers, resp.content, route=ROUTE_CAPABILITIES,
        request_nonce=int(resp.request.headers[HEADER_NONCE]), self_hotkey=hotkey_of(cast.validator),
        expected_hotkey=hotkey_of(cast.miner), now_ns=time.time_ns(), max_age=60,
    )
    caps = decode(Capabilities, resp.content, max_bytes=10_000)
    assert caps.circuits == tuple(sorted([CIRCUIT_A, CIRCUIT_B]))
    # Two workers for two circuits: a lane each, each with its own queue of 5.
    assert caps.lanes == (
        Lane(circuits=(CIRCUIT_A,), max_concurrent=1, max_queue=5),
        Lane(circuits=(CIRCUIT_B,), max_concurrent=1, max_queue=5),
    )
    assert (caps.max_concurrent, caps.max_queue) == (2, 10)


async def test_capabilities_need_authentication(cast):
    miner = Miner(cast)
    assert (await miner.raw.get(ROUTE_CAPABILITIES)).status_code == 401


def _tamper(headers):
    sig = bytearray(bytes.fromhex(headers["X-Bittensor-Signature"][2:]))
    sig[-1] ^= 1
    return {**headers, "X-Bittensor-Signature": "0x" + sig.hex()}


def auth_cases(cast, body):
    miner_hk = hotkey_of(cast.miner)

    def sign(wallet=cast.validator, receiver=miner_hk, nonce_ns=None, sign_body=body):
        return bt.http_auth.sign(
            wallet, method="POST", path=ROUTE_PROVE, body=sign_body,
            receiver_ss58=receiver, nonce_ns=nonce_ns,
        )

    return {
        "unsigned": ({}, 401),
        "malformed": ({**sign(), "X-Bittensor-Version": "0"}, 401),
        "wrong_receiver": (sign(receiver=hotkey_of(cast.validator)), 401),
        "stale": (sign(nonce_ns=time.time_ns() - 30 * 10**9), 401),
        "bad_signature": (_tamper(sign()), 401),
        "body_swapped": (sign(sign_body=b"{}"), 401),
        "unregistered": (sign(wallet=cast.stranger), 403),
        "no_permit": (sign(wallet=cast.no_permit), 403),
        "stake_too_low": (sign(wallet=cast.poor), 403),
    }


@pytest.mark.parametrize(
    "case",
    ["unsigned", "malformed", "wrong_receiver", "stale", "bad_signature", "body_swapped",
     "unregistered", "no_permit", "stake_too_low"],
)
async def test_auth_refusals_never_reach_the_prover(cast, case):
    miner = Miner(cast)
    body = request_json()
    headers, status = auth_cases(cast, body)[case]
    resp = await miner.raw.post(ROUTE_PROVE, content=body, headers=headers)
    assert resp.status_code == status
    assert error_of(resp).code.value == ("unauthenticated" if status == 401 else "forbidden")
    assert miner.prover.calls == []
    assert miner.observer.depths == []


async def test_replayed_request_is_refused_and_proved_once(cast):
    miner = Miner(cast)
    body = request_json()
    headers = bt.http_auth.sign(
        cast.validator, method="POST", path=ROUTE_PROVE, body=body, receiver_ss58=hotkey_of(cast.miner)
    )
    assert (await miner.raw.post(ROUTE_PROVE, content=body, headers=headers)).status_code == 200
    again = await miner.raw.post(ROUTE_PROVE, content=body, headers=headers)
    assert again.status_code == 401 and len(miner.prover.calls) == 1


async def test_auth_is_checked_before_the_body_is_parsed(cast):
    """Garbage from an unregistered caller is 403, not 422: nothing is parsed for it."""
    miner = Miner(cast)
    resp = await miner.post_raw(b"this is not json", wallet=cast.stranger)
    assert resp.status_code == 403


@pytest.mark.parametrize(
    "body, status, code",
    [
        (b"x" * (MAX_REQUEST_BYTES + 1), 413, "too_large"),
        (request_json(inputs=[0.0] * (MAX_INPUTS + 1)), 422, "invalid_request"),
        (request_json().replace(b'"inputs": [1.0, 2.0]', b'"inputs": [1.0, NaN]'), 422, "invalid_request"),
        (request_json().replace(b'"inputs": [1.0, 2.0]', b'"inputs": [1.0, Infinity]'), 422, "invalid_request"),
        (request_json(inputs=["1.0", "2.0"]), 422, "invalid_request"),
        (request_json(deadline="tomorrow"), 422, "invalid_request"),
        (request_json(extra_field=True), 422, "invalid_request"),
        (request_json(circuit_id="Z" * 64), 422, "invalid_request"),
        (request_json(circuit_id="c" * 64), 404, "unknown_circuit"),
        (request_json(protocol_version=1), 422, "unsupported_version"),  # an older validator
        (b"not json", 422, "invalid_request"),
        (b"", 422, "invalid_request"),
    ],
    ids=["oversized", "too_many_inputs", "nan", "inf", "strings", "deadline_type", "extra_field",
         "bad_circuit_id", "unknown_circuit", "version", "not_json", "empty"],
)
async def test_invalid_requests_are_refused_without_proving(cast, body, status, code):
    miner = Miner(cast)
    resp = await miner.post_raw(body)
    assert resp.status_code == status
    assert error_of(resp).code.value == code
    assert miner.prover.calls == []
    assert miner.observer.requests == [(ROUTE_PROVE, code, status)]


async def test_expired_deadline_is_408_without_proving(cast):
    miner = Miner(cast)
    resp = await miner.post_raw(request_json(deadline=time.time() - 1))
    assert resp.status_code == 408 and error_of(resp).code.value == "deadline_exceeded"
    assert miner.prover.calls == []


async def test_deadline_that_cannot_be_met_is_503_without_proving(cast):
    """After one proof took >= 0.3 s, a request with 0.1 s left behind a running
    proof is refused at once."""
    miner = Miner(cast, prover=AsyncFakeProver(delay=0.3), metagraph=two_validators(cast))
    assert (await miner.prove()).status is QueryStatus.OK
    miner.prover.gate = asyncio.Event()
    miner.prover.started.clear()
    running = asyncio.create_task(miner.prove())
    await miner.prover.started.wait()
    resp = await miner.post_raw(request_json(deadline=time.time() + 0.1), wallet=cast.poor)
    assert resp.status_code == 503 and "cannot be met" in error_of(resp).message
    miner.prover.gate.set()
    assert (await running).status is QueryStatus.OK
    assert len(miner.prover.calls) == 2


async def test_a_deadline_below_the_estimate_is_refused_at_once_even_when_idle(cast):
    """Attack: deadlines 0.1-0.5 s away were proved anyway and answered late. Once a proof
    took 1 s, an idle miner refuses a request with 0.2 s left at once, using no worker."""
    miner = Miner(cast, prover=AsyncFakeProver(delay=1.0))
    assert (await miner.prove()).status is QueryStatus.OK
    resp = await miner.post_raw(request_json(deadline=time.time() + 0.2))
    assert resp.status_code == 503 and "cannot be met" in error_of(resp).message
    assert len(miner.prover.calls) == 1


async def test_an_idle_miner_serves_again_after_one_slow_proof(cast):
    """Lockout: one slow proof must not make an idle miner refuse every shorter deadline
    forever. It refuses them until no proof of the circuit has started for the probe
    period, then tries one; the fast proof replaces the estimate, so the next is tried too."""
    miner = Miner(cast, prover=AsyncFakeProver(delay=0.5), probe_after_s=1.0)
    assert (await miner.prove()).status is QueryStatus.OK
    miner.prover.delay = 0.0
    refused = await miner.post_raw(request_json(deadline=time.time() + 0.3))
    assert refused.status_code == 503
    await asyncio.sleep(1.0)
    probe = await miner.post_raw(request_json(deadline=time.time() + 0.3))
    assert probe.status_code == 200
    after = await miner.post_raw(request_json(deadline=time.time() + 0.3))
    assert after.status_code == 200
    assert len(miner.prover.calls) == 3


async def test_full_queue_answers_503_at_once(cast):
    """One proving, one waiting (max_queue=1): the third is refused immediately, the others finish."""
    gate = asyncio.Event()
    miner = Miner(
        cast, prover=AsyncFakeProver(gate=gate), max_concurrent=1, max_queue=1, max_per_caller=3
    )
    first = asyncio.create_task(miner.prove())
    await miner.prover.started.wait()
    second = asyncio.create_task(miner.prove())
    while miner.observer.depths[-1] != (1, 1):
        await asyncio.sleep(0.01)
    third = await miner.post_raw(request_json())
    assert third.status_code == 503 and error_of(third).code.value == "busy"
    gate.set()
    results = await asyncio.gather(first, second)
    assert [r.status for r in results] == [QueryStatus.OK, QueryStatus.OK]
    assert len(miner.prover.calls) == 2
    assert results[1].response.queue_s > 0


async def test_one_caller_cannot_fill_the_queue_and_starve_another(cast):
    """Per-caller fairness: with max_concurrent=1 a validator holding one request gets
    503 busy for a second one, while another validator still gets its place in the queue."""
    gate = asyncio.Event()
    miner = Miner(
        cast, prover=AsyncFakeProver(gate=gate), max_concurrent=1, max_queue=4,
        metagraph=two_validators(cast),
    )
    first = asyncio.create_task(miner.prove())
    await miner.prover.started.wait()
    async with asyncio.timeout(5):  # refused at once, not queued
        again = await miner.post_raw(request_json())
    assert again.status_code == 503 and error_of(again).code.value == "busy"
    assert "this caller" in error_of(again).message
    other = asyncio.create_task(miner.prove(client=miner.client_for(cast.poor)))
    while miner.observer.depths[-1] != (1, 1):
        await asyncio.sleep(0.01)
    gate.set()
    async with asyncio.timeout(5):
        results = await asyncio.gather(first, other)
    assert [r.status for r in results] == [QueryStatus.OK, QueryStatus.OK]
    assert (await miner.prove()).status is QueryStatus.OK  # its slot is freed afterwards
    assert len(miner.prover.calls) == 3


async def test_a_deadline_too_far_ahead_is_invalid_without_proving(cast):
    miner = Miner(cast)
    resp = await miner.post_raw(request_json(deadline=time.time() + MAX_DEADLINE_S + 5))
    assert resp.status_code == 422 and error_of(resp).code.value == "invalid_request"
    assert miner.prover.calls == []
    assert (await miner.post_raw(request_json(deadline=time.time() + MAX_DEADLINE_S - 5))).status_code == 200


async def test_deadline_passing_while_queued_is_408_without_proving(cast):
    gate = asyncio.Event()
    miner = Miner(
        cast, prover=AsyncFakeProver(gate=gate), max_concurrent=1, max_queue=1, max_per_caller=2
    )
    first = asyncio.create_task(miner.prove())
    await miner.prover.started.wait()
    queued = await miner.post_raw(request_json(deadline=time.time() + 0.2))
    assert queued.status_code == 408 and error_of(queued).code.value == "deadline_exceeded"
    gate.set()
    assert (await first).status is QueryStatus.OK
    assert len(miner.prover.calls) == 1
    assert miner.observer.depths[-1] == (0, 0)


async def test_proving_failure_is_500_and_the_app_keeps_serving(cast):
    prover = AsyncFakeProver(error=ProvingFailed("witness generation failed: input out of range"))
    miner = Miner(cast, prover=prover)
    resp = await miner.post_raw(request_json())
    assert resp.status_code == 500
    err = error_of(resp)
    assert err.code.value == "proving_failed" and "out of range" in err.message
    prover.error = None
    assert (await miner.prove()).status is QueryStatus.OK
    assert [ok for _, _, ok in miner.observer.proofs] == [False, True]


async def test_prover_bug_is_500_internal_and_the_app_keeps_serving(cast):
    prover = AsyncFakeProver(error=ZeroDivisionError("oops"))
    miner = Miner(cast, prover=prover)
    resp = await miner.post_raw(request_json())
    assert resp.status_code == 500 and error_of(resp).code.value == "internal"
    prover.error = None
    assert (await miner.prove()).status is QueryStatus.OK


async def test_proof_for_another_circuit_is_500(cast):
    miner = Miner(cast, prover=AsyncFakeProver(result_override=fake_result(CIRCUIT_B, (1.0,))))
    resp = await miner.post_raw(request_json())
    assert resp.status_code == 500 and error_of(resp).code.value == "internal"


async def test_refusals_are_signed_by_the_miner_for_the_caller(cast):
    miner = Miner(cast)
    body = request_json(circuit_id="c" * 64)
    headers = bt.http_auth.sign(
        cast.validator, method="POST", path=ROUTE_PROVE, body=body, receiver_ss58=hotkey_of(cast.miner)
    )
    resp = await miner.raw.post(ROUTE_PROVE, content=body, headers=headers)
    assert resp.status_code == 404
    verify_response(
        resp.headers, resp.content, route=ROUTE_PROVE, request_nonce=int(headers["X-Bittensor-Nonce"]),
        self_hotkey=hotkey_of(cast.validator), expected_hotkey=hotkey_of(cast.miner),
        now_ns=time.time_ns(), max_age=10,
    )


@pytest.mark.parametrize(
    "case, status", [("unsigned", 401), ("unregistered", 403), ("oversized", 413)]
)
async def test_guard_refusals_are_not_signed(cast, case, status):
    """Refusing an unverified caller costs no signature, whatever hotkey it claims."""
    miner = Miner(cast)
    body = b"x" * (MAX_REQUEST_BYTES + 1) if case == "oversized" else request_json()
    wallet = {"unsigned": None, "unregistered": cast.stranger, "oversized": cast.validator}[case]
    headers = {} if wallet is None else bt.http_auth.sign(
        wallet, method="POST", path=ROUTE_PROVE, body=body, receiver_ss58=hotkey_of(cast.miner)
    )
    resp = await miner.raw.post(ROUTE_PROVE, content=body, headers=headers)
    assert resp.status_code == status
    assert error_of(resp).code.value in {"unauthenticated", "forbidden", "too_large"}
    assert "X-Bittensor-Signature" not in resp.headers


async def test_the_client_reads_an_unsigned_refusal(cast):
    miner = Miner(cast)
    stranger = miner.client_for(cast.stranger)
    outcome = await miner.prove(client=stranger)
    assert outcome.status is QueryStatus.HTTP_ERROR and outcome.http_status == 403
    assert outcome.error is not None and outcome.error.code.value == "forbidden"
    assert miner.prover.calls == []


async def test_unknown_route_and_wrong_method_answer_error_responses(cast):
    miner = Miner(cast)
    missing = await miner.raw.get("/nowhere")
    assert missing.status_code == 404 and error_of(missing).code.value == "not_found"
    assert miner.observer.requests[-1] == ("other", "not_found", 404)
    wrong = await miner.raw.get(ROUTE_PROVE)
    assert wrong.status_code == 405 and error_of(wrong).code.value == "method_not_allowed"
    assert (await miner.raw.get("/docs")).status_code == 404


@pytest.mark.parametrize("method, path", [
    ("POST", ROUTE_PROVE + "/"), ("GET", ROUTE_CAPABILITIES + "/"), ("POST", "//v1/prove"),
    ("GET", "/evil.example/%2e%2e"),
])
async def test_no_route_redirects_or_reflects_the_callers_headers(cast, method, path):
    """Tried: a trailing slash and odd paths, unauthenticated, with a rival's Host header (starlette
    used to answer 307 with Location built from it). Must hold: no 3xx, no Location, and nothing
    the caller sent (host, path, header values) in the unsigned answer."""
    miner = Miner(cast)
    resp = await miner.raw.request(
        method, path, headers={"Host": "evil.example", "X-Forwarded-Host": "evil.example"}
    )
    assert resp.status_code in {404, 405}
    assert "location" not in resp.headers
    assert b"evil" not in resp.content and b"evil" not in b"".join(
        f"{k}:{v}".encode() for k, v in resp.headers.items()
    )
    assert error_of(resp).code.value in {"not_found", "method_not_allowed"}
    assert "X-Bittensor-Signature" not in resp.headers


def _fits_two_inputs_in_unit_range(circuit_id: str, inputs: tuple[float, ...]) -> None:
    if len(inputs) != 2:
        raise ValueError(f"{circuit_id[:8]} takes 2 values, got {len(inputs)}")
    if min(inputs) < 0.0 or max(inputs) > 1.0:
        raise ValueError("inputs must lie in [0.0, 1.0]")


@pytest.mark.parametrize("inputs, message", [
    ((0.5,), "takes 2 values, got 1"), ((0.5, 0.5, 0.5), "takes 2 values, got 3"),
    ((0.5, 1.5), "must lie in"), ((-0.1, 0.5), "must lie in"),
], ids=["short", "long", "above", "below"])
async def test_inputs_that_do_not_fit_the_circuit_are_422_before_queueing(cast, inputs, message):
    """Tried: a permitted validator sends the wrong number of inputs or values outside the
    circuit's range. Must hold: 422 invalid_inputs (the caller's mistake, not a 500 of ours),
    signed, the prover never called, no queue slot taken."""
    miner = Miner(cast, check_inputs=_fits_two_inputs_in_unit_range)
    resp = await miner.post_raw(request_json(inputs=list(inputs)))
    assert resp.status_code == 422
    err = error_of(resp)
    assert err.code.value == "invalid_inputs" and message in err.message
    assert "X-Bittensor-Signature" in resp.headers
    assert miner.prover.calls == [] and miner.observer.depths in ([], [(0, 0)])
    assert (await miner.prove(inputs=(0.5, 0.5))).status is QueryStatus.OK


async def test_invalid_inputs_found_by_the_prover_are_422_not_500(cast):
    """Tried: no pre-check in the app, the prover itself finds the inputs do not fit (as
    EzklProver does with InvalidInputs). Must hold: 422 invalid_inputs, and the miner keeps serving."""
    prover = AsyncFakeProver(error=InvalidInputs("wine_mlp takes 11 values (1, 11), got 2"))
    miner = Miner(cast, prover=prover)
    resp = await miner.post_raw(request_json())
    assert resp.status_code == 422
    assert error_of(resp).code.value == "invalid_inputs" and "takes 11 values" in error_of(resp).message
    prover.error = None
    assert (await miner.prove()).status is QueryStatus.OK


async def test_a_failing_observer_does_not_break_serving(cast):
    class Broken:
        def __getattr__(self, name):
            def fail(*args):
                raise RuntimeError("metrics down")

            return fail

    miner = Miner(cast, observer=Broken())
    assert (await miner.prove()).status is QueryStatus.OK


def test_build_refuses_what_the_protocol_cannot_announce(cast):
    common = dict(wallet=cast.miner, prove=AsyncFakeProver(), metagraph=cast.metagraph,
                  netuid=NETUID, min_stake=0.0)
    with pytest.raises(ValueError):
        build_miner_app(circuits={"not-a-circuit-id"}, max_queue=1, **common)
    with pytest.raises(ValueError):
        build_miner_app(circuits={CIRCUIT_A}, max_queue=-1, **common)
    with pytest.raises(ValueError):
        build_miner_app(circuits={CIRCUIT_A}, max_queue=1, max_concurrent=0, **common)
    with pytest.raises(ValueError):
        build_miner_app(circuits={CIRCUIT_A}, max_queue=1, max_per_caller=0, **common)


@pytest.fixture
async def slow_pool(tmp_path):
    """One real worker process holding a ``SlowProver`` (a proof takes ``inputs[0]`` seconds);
    the prover writes its pid to ``slow_pool.marker`` as each proof starts."""
    marker = tmp_path / "proving-pid"
    pool = ProverPool(functools.partial(SlowProver, "slow", str(marker)), workers=1)
    pool.marker = marker
    await pool.warm_up()
    yield pool
    await pool.aclose()


async def proving_pid(marker: Path) -> int:
    """The pid of the worker process once a proof has started in it."""
    async with asyncio.timeout(30):
        while not (marker.exists() and marker.read_text()):
            await asyncio.sleep(0.01)
    return int(marker.read_text())


async def test_a_proof_running_past_its_deadline_is_abandoned_and_its_worker_replaced(cast, slow_pool):
    """Attack: a request proved past its deadline held the worker for nothing. At the deadline
    the worker is killed and the caller answered 408; the same caller's next request (its
    slot is free) is proved by a fresh worker."""
    miner = Miner(cast, prover=slow_pool.prove)
    _, first_worker = await slow_pool.run(worker_identity)
    async with asyncio.timeout(20):  # not the 60 s the proof would take
        late = await miner.post_raw(request_json(inputs=[60.0, 1.0], deadline=time.time() + 1.0))
    assert late.status_code == 408 and error_of(late).code.value == "deadline_exceeded"
    assert "abandoned" in error_of(late).message
    assert (await miner.prove(inputs=(0.0, 1.0))).status is QueryStatus.OK
    _, next_worker = await slow_pool.run(worker_identity)
    assert next_worker != first_worker
    assert miner.observer.depths[-1] == (0, 0)


async def test_a_worker_killed_mid_proof_is_500_and_the_next_request_is_served(cast, slow_pool):
    """A proving worker SIGKILLed from outside (OOM killer): that request is answered 500
    saying the worker died and how; the worker is rebuilt and the next request proved."""
    miner = Miner(cast, prover=slow_pool.prove)
    answer = asyncio.create_task(miner.post_raw(request_json(inputs=[60.0, 1.0])))
    os.kill(await proving_pid(slow_pool.marker), signal.SIGKILL)
    async with asyncio.timeout(20):
        resp = await answer
    assert resp.status_code == 500 and error_of(resp).code.value == "proving_failed"
    assert "WorkerCrashed" in error_of(resp).message and "killed by SIGKILL" in error_of(resp).message
    assert (await miner.prove(inputs=(0.0, 1.0))).status is QueryStatus.OK


async def serve_over_tcp(app):
    """``app`` under uvicorn on a free loopback port: (server, its task, port)."""
    import uvicorn

    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off")
    )
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)
    return server, task, server.servers[0].sockets[0].getsockname()[1]


async def test_a_caller_that_hangs_up_mid_proof_frees_its_slot_and_the_worker(cast, slow_pool):
    """Attack: a caller that hung up still had its request proved, and a retry got 503 (its
    slot was still taken). Over TCP the miner sees the hang-up, kills the worker and frees
    the slot: the retry from the same caller is proved by a fresh worker."""
    miner = Miner(cast, prover=slow_pool.prove)  # one request per caller
    server, serving, port = await serve_over_tcp(miner.app)
    try:
        body = request_json(inputs=[60.0, 1.0])
        async with httpx.AsyncClient(timeout=30) as impatient:
            waiting = asyncio.create_task(impatient.post(
                f"http://127.0.0.1:{port}{ROUTE_PROVE}", content=body,
                headers=signed_headers(cast, "POST", ROUTE_PROVE, body),
            ))
            hung_up_worker = await proving_pid(slow_pool.marker)
            waiting.cancel()  # the caller gives up, as a validator's timeout does: the socket closes
            with pytest.raises(asyncio.CancelledError):
                await waiting
        async with asyncio.timeout(20):
            while (ROUTE_PROVE, "disconnected", 499) not in miner.observer.requests:
                await asyncio.sleep(0.01)
        assert miner.observer.depths[-1] == (0, 0)
        async with MinerClient(cast.validator, timeout=30) as client:
            retry = await client.prove(("127.0.0.1", port), hotkey_of(cast.miner), proof_request(inputs=(0.0, 1.0)))
        assert retry.status is QueryStatus.OK, retry.detail
        assert int(slow_pool.marker.read_text()) != hung_up_worker
    finally:
        server.should_exit = True
        await serving


async def test_app_under_uvicorn_serves_the_real_client_over_tcp(cast):
    """The same checks hold on a real socket (raw path, streaming, headers) as in process."""
    import uvicorn

    miner = Miner(cast)
    server = uvicorn.Server(
        uvicorn.Config(miner.app, host="127.0.0.1", port=0, log_level="warning", lifespan="off")
    )
    serving = asyncio.create_task(server.serve())
    try:
        while not server.started:
            await asyncio.sleep(0.01)
        port = server.servers[0].sockets[0].getsockname()[1]
        async with MinerClient(cast.validator, timeout=10) as client:
            ok = await client.prove(("127.0.0.1", port), hotkey_of(cast.miner), proof_request())
            pass
        async with MinerClient(cast.stranger, timeout=10) as client:
            refused = await client.prove(("127.0.0.1", port), hotkey_of(cast.miner), proof_request())
        async with httpx.AsyncClient() as raw:
            headers = signed_headers(cast, "GET", ROUTE_CAPABILITIES, b"")
            caps = await raw.get(f"http://127.0.0.1:{port}{ROUTE_CAPABILITIES}", headers=headers)
            big = await raw.post(
                f"http://127.0.0.1:{port}{ROUTE_PROVE}", content=b"x" * (MAX_REQUEST_BYTES + 1)
            )
    finally:
        server.should_exit = True
        await serving
    assert ok.status is QueryStatus.OK, ok.detail
    assert caps.status_code == 200 and decode(Capabilities, caps.content, max_bytes=10_000).circuits
    assert refused.status is QueryStatus.HTTP_ERROR and refused.http_status == 403
    assert big.status_code == 413
    assert len(miner.prover.calls) == 1


# --- the subnet owner's circuit pin ---------------------------------------------------


async def test_a_circuit_outside_the_pin_is_refused_404_before_proving_and_left_out_of_capabilities(cast):
    """Tried: the miner serves A and B; the pin (``pinned``) allows A only. Must hold: a request
    for B is 404 ``unknown_circuit`` naming the pin, the prover never runs for it; A is proved;
    the capabilities list A alone, in a lane of its own."""
    allowed = {CIRCUIT_A}
    miner = Miner(cast, pinned=lambda cid: cid in allowed, max_concurrent=2)
    refused = await miner.prove(circuit_id=CIRCUIT_B)
    assert refused.http_status == 404 and refused.error.code.value == "unknown_circuit"
    assert "not in the subnet owner's pin" in refused.error.message
    assert miner.prover.calls == []
    assert (await miner.prove(circuit_id=CIRCUIT_A)).status is QueryStatus.OK
    caps = (await miner.client.capabilities(AXON, hotkey_of(cast.miner))).response
    assert caps.circuits == (CIRCUIT_A,)
    assert [lane.circuits for lane in caps.lanes] == [(CIRCUIT_A,)] and caps.max_concurrent == 1


async def test_a_pin_that_changes_while_serving_applies_to_the_next_request(cast):
    allowed = {CIRCUIT_A}
    miner = Miner(cast, pinned=lambda cid: cid in allowed)
    assert (await miner.prove(circuit_id=CIRCUIT_B)).http_status == 404
    allowed.add(CIRCUIT_B)
    assert (await miner.prove(circuit_id=CIRCUIT_B)).status is QueryStatus.OK
    caps = (await miner.client.capabilities(AXON, hotkey_of(cast.miner))).response
    assert set(caps.circuits) == {CIRCUIT_A, CIRCUIT_B}
