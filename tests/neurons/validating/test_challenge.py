"""neurons.validating.challenge: one challenge of one miner always ends in a ResponseRecord, never a raise.

The miner side is the real miner app (``build_miner_app``) over ``httpx.ASGITransport``
with scripted provers, or a mock transport where the app cannot misbehave the way a
hostile miner would; the validator side is the real ``MinerClient``; ``verify`` is
``FakeVerifier``, which accepts exactly the fake proof of the inputs the validator sent.
"""

from __future__ import annotations

import asyncio
import time
from types import SimpleNamespace

import httpx
import numpy as np
import pytest

from execution_layer.types import ProvingFailed
from models.metadata import InputSpec
from models.sampling import Sampler
from neurons.chain import NeuronInfo
from neurons.mining.app import build_miner_app
from neurons.mining.guard import sign_response
from neurons.shared.proofs import proof_response
from neurons.shared.prover_pool import WorkerCrashed
from neurons.validating.challenge import (
    InputSampler,
    Outcome,
    ResponseRecord,
    challenge_miner,
    late_grace,
)
from neurons.validating.client import MinerClient, QueryOutcome, QueryStatus
from neurons.validating.replay_guard import ReplayGuard
from protocol import ProofRequest, encode
from tests.support.cast import MIN_STAKE, NETUID
from tests.support.chain import neuron, serving
from tests.support.network import RoutingTransport
from tests.support.paths import DOCS
from tests.support.provers import (
    CIRCUIT_A,
    AsyncFakeProver,
    FakeCircuit,
    FakeVerifier,
    fake_result,
    fake_sample,
)
from tests.support.wallets import hotkey_of

pytestmark = pytest.mark.anyio

AXON = ("10.0.0.2", 8091)
CIRCUIT = FakeCircuit(CIRCUIT_A, "fake-a", timeout_s=1.0)


def app_transport(cast, prove, wallet=None) -> httpx.ASGITransport:
    """The real miner app of ``cast.miner`` (or ``wallet``) proving with ``prove``."""
    app = build_miner_app(
        wallet=wallet or cast.miner, prove=prove, circuits={CIRCUIT_A}, metagraph=cast.metagraph,
        netuid=NETUID, min_stake=MIN_STAKE, max_queue=2,
    )
    return httpx.ASGITransport(app)


def miner_neuron(cast) -> NeuronInfo:
    return serving(neuron(0, hotkey_of(cast.miner)), AXON)


async def challenge(cast, transport, *, verify=None, guard=None, circuit=CIRCUIT):
    verify = verify or FakeVerifier()
    async with MinerClient(cast.validator, transport=RoutingTransport({AXON: transport})) as client:
        return await challenge_miner(
            neuron=miner_neuron(cast), circuit=circuit, client=client, verify=verify,
            guard=guard or ReplayGuard(), sample=fake_sample, rng=np.random.default_rng(),
        )


def genuine_body(request: httpx.Request) -> bytes:
    """The body an honest miner would send for ``request``."""
    req = ProofRequest.model_validate_json(request.content)
    result = fake_result(req.circuit_id, req.inputs)
    return encode(proof_response(result, request_id=req.request_id, queue_s=0.0))


def signed_by(wallet, body: bytes | None = None, status: int = 200) -> httpx.MockTransport:
    """A hostile miner: answers ``body`` (default: the genuine answer) signed by ``wallet``."""

    async def handler(request: httpx.Request) -> httpx.Response:
        content = body if body is not None else genuine_body(request)
        headers = sign_response(
            wallet, route=request.url.path, request_nonce=request.headers["X-Bittensor-Nonce"],
            body=content, receiver=request.headers["X-Bittensor-Hotkey"], nonce_ns=time.time_ns(),
        )
        return httpx.Response(status, content=content, headers=headers)

    return httpx.MockTransport(handler)


async def test_honest_miner_is_verified_with_its_measurements(cast):
    verify = FakeVerifier()
    record = await challenge(cast, app_transport(cast, AsyncFakeProver()), verify=verify)
    assert record.verified and record.outcome is Outcome.ACCEPTED and record.reason is None
    assert record.uid == 0 and record.hotkey == hotkey_of(cast.miner) and record.circuit_id == CIRCUIT_A
    assert record.proof_bytes == len(fake_result(CIRCUIT_A, (0.0,)).proof.proof)
    assert record.outputs is not None and record.prove_s is not None
    assert 0.0 < record.response_s <= CIRCUIT.timeout_s
    assert len(verify.calls) == 1


async def test_each_challenge_sends_fresh_inputs(cast):
    prover = AsyncFakeProver()
    transport = app_transport(cast, prover)
    guard = ReplayGuard()
    for _ in range(3):
        assert (await challenge(cast, transport, guard=guard)).verified
    assert len({inputs for _, inputs in prover.calls}) == 3


async def test_proof_of_other_inputs_is_rejected(cast):
    async def cheat(circuit_id, inputs):
        return fake_result(circuit_id, tuple(v + 0.5 for v in inputs))

    record = await challenge(cast, app_transport(cast, cheat))
    assert not record.verified and record.outcome is Outcome.REJECTED
    assert record.reason.startswith("proof rejected")
    assert record.proof_bytes > 0 and record.outputs is None


async def test_garbage_proof_bytes_are_rejected(cast):
    garbage = fake_result(CIRCUIT_A, (9.0,))
    garbage = type(garbage)(
        proof=type(garbage.proof)(CIRCUIT_A, garbage.proof.instances, b"\x00garbage" * 8),
        outputs=(1.0,), witness_s=0.0, prove_s=0.0,
    )
    record = await challenge(cast, app_transport(cast, AsyncFakeProver(result_override=garbage)))
    assert not record.verified and record.outcome is Outcome.REJECTED
    assert record.reason.startswith("proof rejected")


async def test_garbage_body_with_a_valid_signature_is_a_bad_response(cast):
    verify = FakeVerifier()
    record = await challenge(cast, signed_by(cast.miner, b'{"not": "a proof"}'), verify=verify)
    assert not record.verified and record.outcome is Outcome.BAD_RESPONSE
    assert record.reason.startswith("bad_response")
    assert record.proof_bytes == 0 and verify.calls == []


async def test_miner_that_does_not_answer_in_time_is_a_timeout(cast):
    async def stall(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(5.0)
        return httpx.Response(500)

    record = await challenge(cast, httpx.MockTransport(stall),
                             circuit=FakeCircuit(CIRCUIT_A, "fake-a", timeout_s=0.3))
    assert not record.verified and record.outcome is Outcome.NO_RESPONSE
    assert record.reason.startswith("timeout")
    assert record.response_s < 5.0


async def test_real_miner_too_slow_abandons_at_the_deadline_and_is_charged(cast):
    """The miner app stops a proof at its deadline and says so (408); the validator
    charges it like any failed answer, well before the proof would have finished."""
    record = await challenge(cast, app_transport(cast, AsyncFakeProver(delay=5.0)),
                             circuit=FakeCircuit(CIRCUIT_A, "fake-a", timeout_s=0.3))
    assert not record.verified and record.outcome is Outcome.HTTP_ERROR
    assert "408" in record.reason and "abandoned" in record.reason
    assert record.response_s < 5.0


async def test_prover_failure_is_an_http_error(cast):
    record = await challenge(cast, app_transport(cast, AsyncFakeProver(error=ProvingFailed("nope"))))
    assert not record.verified and record.outcome is Outcome.HTTP_ERROR
    assert record.reason.startswith("http_error")
    assert "500" in record.reason


async def test_answer_signed_by_another_hotkey_is_a_bad_signature(cast):
    """A server at the miner's address answering correctly, but as another hotkey."""
    verify = FakeVerifier()
    record = await challenge(cast, signed_by(cast.stranger), verify=verify)
    assert not record.verified and record.outcome is Outcome.BAD_SIGNATURE
    assert record.reason.startswith("bad_signature")
    assert verify.calls == []


async def test_genuine_answer_signed_by_the_miner_is_verified(cast):
    """The control for the hostile mock miners above: the same answer, signed right, passes."""
    assert (await challenge(cast, signed_by(cast.miner))).verified


async def test_unreachable_axon_is_a_connect_error(cast):
    async with MinerClient(cast.validator, transport=RoutingTransport()) as client:
        record = await challenge_miner(
            neuron=miner_neuron(cast), circuit=CIRCUIT, client=client, verify=FakeVerifier(),
            guard=ReplayGuard(), sample=fake_sample, rng=np.random.default_rng(),
        )
    assert not record.verified and record.outcome is Outcome.NO_RESPONSE
    assert record.reason.startswith("connect_error")


async def test_replayed_proof_bytes_are_rejected_before_verification(cast):
    """A miner resending proof bytes already seen (its own, or copied) gets nothing."""
    first = None

    async def replayer(circuit_id, inputs):
        nonlocal first
        genuine = fake_result(circuit_id, inputs)
        first = first or genuine.proof.proof
        return type(genuine)(type(genuine.proof)(circuit_id, genuine.proof.instances, first),
                             genuine.outputs, 0.0, 0.0)

    guard, verify = ReplayGuard(), FakeVerifier()
    transport = app_transport(cast, replayer)
    assert (await challenge(cast, transport, guard=guard, verify=verify)).verified
    again = await challenge(cast, transport, guard=guard, verify=verify)
    assert not again.verified and again.outcome is Outcome.REPLAYED and again.reason == "replayed proof"
    assert len(verify.calls) == 1


class _CrashingVerifier:
    """``FakeVerifier`` whose first ``crashes`` calls raise ``error`` (a dead worker by default)."""

    def __init__(self, crashes: int, error: Exception | None = None) -> None:
        self.inner = FakeVerifier()
        self.crashes = crashes
        self.error = error or WorkerCrashed("a prover worker died during verify")
        self.calls = 0

    async def __call__(self, circuit_id, proof, inputs):
        self.calls += 1
        if self.calls <= self.crashes:
            raise self.error
        return await self.inner(circuit_id, proof, inputs)


async def test_a_verifier_that_raises_is_a_validator_error_not_a_rejection(cast):
    """The verifier turns every bad proof into a verdict, so a raise is the validator's fault:
    the record is validator_error (not charged to the miner), with the response's measurements,
    and the challenge does not raise (that would end the round for every miner)."""
    verify = _CrashingVerifier(crashes=2)
    record = await challenge(cast, app_transport(cast, AsyncFakeProver()), verify=verify)
    assert not record.verified and record.outcome is Outcome.VALIDATOR_ERROR
    assert record.reason == "validator error: verifier raised WorkerCrashed"
    assert record.proof_bytes > 0 and record.response_s > 0
    assert verify.calls == 2  # one retry after the crash, no more


async def test_a_proof_whose_worker_died_once_is_verified_again_and_accepted(cast):
    """A worker death fails every verification waiting in the pool; the pool is rebuilt, so one
    retry verifies an innocent proof."""
    verify = _CrashingVerifier(crashes=1)
    record = await challenge(cast, app_transport(cast, AsyncFakeProver()), verify=verify)
    assert record.verified and record.outcome is Outcome.ACCEPTED, record.reason
    assert verify.calls == 2


async def test_a_verifier_error_other_than_a_worker_death_is_not_retried(cast):
    """Only WorkerCrashed promises a rebuilt pool; any other raise is a validator_error at once."""
    verify = _CrashingVerifier(crashes=1, error=RuntimeError("pool closed"))
    record = await challenge(cast, app_transport(cast, AsyncFakeProver()), verify=verify)
    assert record.outcome is Outcome.VALIDATOR_ERROR and verify.calls == 1
    assert record.reason == "validator error: verifier raised RuntimeError"


class SlowLink(httpx.AsyncBaseTransport):
    """``inner``'s answers, each delivered ``delay_s`` after the miner sent it (a slow network)."""

    def __init__(self, inner: httpx.AsyncBaseTransport, delay_s: float) -> None:
        self.inner = inner
        self.delay_s = delay_s

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        await asyncio.sleep(self.delay_s)
        return response


async def test_a_valid_proof_arriving_after_the_timeout_is_late_not_missing(cast):
    """Tried: the real miner app proves within its deadline (it abandons proofs past it), but the
    answer reaches the validator after the circuit's timeout, within the grace. Must hold: the
    answer is read and verified, and the record is ``late`` (scored zero, with its response time
    and proof size), not ``no_response``. Margins of ~0.25 s each side: the proof is done ~0.3 s
    before a 4 s timeout, lands ~0.25 s after it, and the grace is 0.5 s."""
    circuit = FakeCircuit(CIRCUIT_A, "fake-a", timeout_s=4.0)
    assert late_grace(circuit.timeout_s) == 0.5
    miner = SlowLink(app_transport(cast, AsyncFakeProver(delay=3.7)), delay_s=0.55)
    record = await challenge(cast, miner, circuit=circuit)
    assert record.outcome is Outcome.LATE and not record.verified
    assert record.reason.startswith("late: ") and record.response_s > circuit.timeout_s
    assert record.proof_bytes > 0


def test_the_late_grace_is_a_quarter_of_the_timeout_and_at_most_half_a_second():
    assert late_grace(1.0) == 0.25 and late_grace(10.0) == 0.5 and late_grace(100.0) == 0.5


def _tampered(body: bytes, **changes) -> bytes:
    import json

    message = json.loads(body)
    message.update(changes)
    return json.dumps(message).encode()


async def test_outputs_that_contradict_the_proof_are_a_bad_response(cast):
    """Tried: a dishonest miner sends a valid proof of our inputs, signed by itself, but with
    ``outputs`` changed (anything reading the response would be misled). Must hold:
    ``bad_response`` naming the contradiction, not accepted."""

    async def handler(request: httpx.Request) -> httpx.Response:
        genuine = json_of(genuine_body(request))
        content = _tampered(genuine_body(request), outputs=[v + 1.0 for v in genuine["outputs"]])
        headers = sign_response(
            cast.miner, route=request.url.path, request_nonce=request.headers["X-Bittensor-Nonce"],
            body=content, receiver=request.headers["X-Bittensor-Hotkey"], nonce_ns=time.time_ns(),
        )
        return httpx.Response(200, content=content, headers=headers)

    record = await challenge(cast, httpx.MockTransport(handler))
    assert record.outcome is Outcome.BAD_RESPONSE and not record.verified
    assert "outputs contradict the proof" in record.reason and record.proof_bytes > 0


async def test_outputs_of_another_length_than_the_proofs_are_a_bad_response(cast):
    async def handler(request: httpx.Request) -> httpx.Response:
        content = _tampered(genuine_body(request), outputs=[0.5, 0.5, 0.5])
        headers = sign_response(
            cast.miner, route=request.url.path, request_nonce=request.headers["X-Bittensor-Nonce"],
            body=content, receiver=request.headers["X-Bittensor-Hotkey"], nonce_ns=time.time_ns(),
        )
        return httpx.Response(200, content=content, headers=headers)

    record = await challenge(cast, httpx.MockTransport(handler))
    assert record.outcome is Outcome.BAD_RESPONSE and "3 outputs, the proof has 1" in record.reason


async def test_a_response_of_another_protocol_version_is_a_bad_response(cast):
    """Tried: an older miner answers with a well-formed, signed response of protocol version 1.
    Must hold: ``bad_response`` naming both versions; the proof is not even verified."""
    verifier = FakeVerifier()

    async def handler(request: httpx.Request) -> httpx.Response:
        content = _tampered(genuine_body(request), protocol_version=1)
        headers = sign_response(
            cast.miner, route=request.url.path, request_nonce=request.headers["X-Bittensor-Nonce"],
            body=content, receiver=request.headers["X-Bittensor-Hotkey"], nonce_ns=time.time_ns(),
        )
        return httpx.Response(200, content=content, headers=headers)

    record = await challenge(cast, httpx.MockTransport(handler), verify=verifier)
    assert record.outcome is Outcome.BAD_RESPONSE
    assert "protocol version 1" in record.reason and "speaks 2" in record.reason
    assert verifier.calls == []


def json_of(body: bytes) -> dict:
    import json

    return json.loads(body)


def test_the_input_sampler_draws_from_the_circuits_pool_and_spec_and_reads_the_pool_once(tmp_path):
    spec = InputSpec(shape=(1, 3), low=-1.0, high=1.0, noise_std=0.1)
    pool = tmp_path / "samples.npy"
    np.save(pool, np.array([[[0.5, -0.5, 0.0]], [[0.9, 0.9, -0.9]]], dtype=np.float32))
    circuit = SimpleNamespace(id=CIRCUIT_A, spec=spec, samples_path=pool)  # what it reads of a Circuit
    sample = InputSampler()
    first = sample(circuit, np.random.default_rng(5))
    assert np.array_equal(first, Sampler.load(pool, spec).draw(np.random.default_rng(5)))
    pool.unlink()  # kept since the first draw: a challenge does not read the file
    assert np.array_equal(sample(circuit, np.random.default_rng(5)), first)


def test_a_record_whose_verified_flag_contradicts_its_outcome_is_refused():
    fields = dict(uid=1, hotkey="h", circuit_id=CIRCUIT_A, circuit_name="fake-a", reason=None,
                  response_s=0.1, proof_bytes=1, outputs=None, prove_s=None, verify_s=0.0)
    with pytest.raises(ValueError, match="contradicts"):
        ResponseRecord(verified=True, outcome=Outcome.REJECTED, **fields)
    with pytest.raises(ValueError, match="contradicts"):
        ResponseRecord(verified=False, outcome=Outcome.ACCEPTED, **fields)


def test_every_outcome_is_documented_for_operators():
    """The verifications label values: utils.metrics' docstring and docs/pm2.md's metric table
    name every Outcome, so an operator can read any label a validator exports."""
    import re

    import utils.metrics

    doc = " ".join((utils.metrics.Metrics.__doc__ or "").split())
    table = DOCS / "pm2.md"
    (row,) = [line for line in table.read_text().splitlines() if line.startswith("| `poi_verifications_total")]
    documented = set(re.findall(r"`(\w+)`", row))
    for outcome in Outcome:
        assert outcome.value in doc, outcome
        assert outcome.value in documented, outcome


# --- refusals that are the validator's own problem -----------------------------------------


@pytest.mark.parametrize("who", ["no_permit", "poor"])
async def test_a_miner_refusing_us_as_not_permitted_is_forbidden_and_not_charged(cast, who):
    """The real miner app refuses a caller without a permit, or with too little stake, with 403
    forbidden: that outcome is the validator's own problem."""
    wallet = getattr(cast, who)
    async with MinerClient(wallet, transport=RoutingTransport({AXON: app_transport(cast, AsyncFakeProver())})) as c:
        record = await challenge_miner(
            neuron=miner_neuron(cast), circuit=CIRCUIT, client=c, verify=FakeVerifier(), guard=ReplayGuard(),
            sample=fake_sample, rng=np.random.default_rng(),
        )
    assert record.outcome is Outcome.FORBIDDEN and not record.verified
    assert record.reason.startswith("http_error: HTTP 403 (forbidden:"), record.reason
    assert not record.outcome.charged


def error_answer(status: int, code: str) -> httpx.MockTransport:
    return httpx.MockTransport(lambda request: httpx.Response(status, json={"code": code, "message": "no"}))


@pytest.mark.parametrize(
    "status, code",
    [(403, "unauthenticated"), (500, "forbidden"), (401, "forbidden")],
    ids=["403-other-code", "500-forbidden-code", "401-forbidden-code"],
)
async def test_a_refusal_is_forbidden_only_with_both_403_and_the_forbidden_code(cast, status, code):
    """The protocol pins 403 to ``forbidden``; a miner whose status and code disagree is broken
    and charged like any other refusal."""
    record = await challenge(cast, error_answer(status, code))
    assert record.outcome is Outcome.HTTP_ERROR and record.outcome.charged


def test_only_the_validators_own_problems_are_not_charged():
    assert {o for o in Outcome if not o.charged} == {Outcome.VALIDATOR_ERROR, Outcome.FORBIDDEN}
