"""neurons.validating.loop: the validator's rounds, scores, state and weights, with fakes.

The chain is ``FakeChain`` (in memory); miners are the real miner app over
``httpx.ASGITransport`` with scripted provers (or hostile mock transports), reached
through the real ``MinerClient`` by axon address; ``verify`` is ``FakeVerifier``,
except in the last tests, which prove and verify with the real execution layer.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time

import bittensor as bt
import httpx
import numpy as np
import pytest

from execution_layer.types import ProvingFailed
from neurons.mining.app import build_miner_app
from neurons.mining.guard import sign_response
from neurons.shared.proofs import proof_response
from neurons.shared.version import VERSION_KEY
from neurons.validating.challenge import Outcome, late_grace
from neurons.validating.client import MinerClient
from neurons.validating.loop import Validator
from neurons.validating.replay_guard import ReplayGuard
from neurons.validating.state import StateStore, ValidatorState
from protocol import ROUTE_PROVE, ProofRequest, encode
from tests.support.cast import MIN_STAKE, NETUID
from tests.support.chain import FakeChain, neuron, serving
from tests.support.inputs import fresh_input
from tests.support.network import RoutingTransport
from tests.support.provers import (
    CIRCUIT_A,
    CIRCUIT_B,
    AsyncFakeProver,
    FakeCircuit,
    FakeVerifier,
    fake_result,
    fake_sample,
)
from tests.support.wallets import hotkey_of, make_wallet

pytestmark = pytest.mark.anyio

CIRCUIT = FakeCircuit(CIRCUIT_A, "fake-a", timeout_s=1.0)
VALIDATOR_UID = 0
VALIDATOR_AXON = ("10.0.0.100", 8091)


def gauge(validator: Validator) -> float | None:
    """The validator's ``poi_blocks_since_weights`` value (None: never set)."""
    return validator.metrics.registry.get_sample_value("poi_blocks_since_weights")


def axon_of(uid: int) -> tuple[str, int]:
    return (f"10.0.1.{uid}", 8091)


@pytest.fixture(scope="module")
def wallets(tmp_path_factory):
    """wallets[0] is the validator; 1.. are miners (uid == index)."""
    root = tmp_path_factory.mktemp("wallets")
    return [make_wallet(root, f"w{i}", 100 + i) for i in range(7)]


# --- miners -----------------------------------------------------------------------


def app(chain: FakeChain, wallet, prove) -> httpx.ASGITransport:
    return httpx.ASGITransport(build_miner_app(
        wallet=wallet, prove=prove, circuits={CIRCUIT_A}, metagraph=chain.view, netuid=NETUID,
        min_stake=MIN_STAKE, max_queue=4,
    ))


def honest(chain, wallet):
    return app(chain, wallet, AsyncFakeProver())


def other_inputs(chain, wallet):
    async def prove(circuit_id, inputs):
        return fake_result(circuit_id, tuple(v + 0.25 for v in inputs))

    return app(chain, wallet, prove)


def garbage(chain, wallet):
    junk = fake_result(CIRCUIT_A, (0.0,))
    junk = type(junk)(type(junk.proof)(CIRCUIT_A, junk.proof.instances, b"junk" * 16), (0.0,), 0.0, 0.0)
    return app(chain, wallet, AsyncFakeProver(result_override=junk))


def slow(chain, wallet):
    """The real miner app with a prover slower than the deadline: it abandons the proof (408)."""
    return app(chain, wallet, AsyncFakeProver(delay=10.0))


def silent(chain, wallet):
    """A miner that does not answer before the validator stops waiting."""

    async def stall(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(10.0)
        return httpx.Response(500)

    return httpx.MockTransport(stall)


def failing(chain, wallet):
    return app(chain, wallet, AsyncFakeProver(error=ProvingFailed("out of memory")))


def impostor(impostor_wallet):
    """Returns a behaviour: the genuine answer, signed by ``impostor_wallet``."""

    def build(chain, wallet):
        async def handler(request: httpx.Request) -> httpx.Response:
            req = ProofRequest.model_validate_json(request.content)
            body = encode(proof_response(
                fake_result(req.circuit_id, req.inputs), request_id=req.request_id, queue_s=0.0))
            headers = sign_response(
                impostor_wallet, route=request.url.path,
                request_nonce=request.headers["X-Bittensor-Nonce"], body=body,
                receiver=request.headers["X-Bittensor-Hotkey"], nonce_ns=time.time_ns(),
            )
            return httpx.Response(200, content=body, headers=headers)

        return httpx.MockTransport(handler)

    return build


def broken_transport(chain, wallet):
    """A connection that fails in a way the client does not map (a validator-side surprise)."""

    class Broken(httpx.AsyncBaseTransport):
        async def handle_async_request(self, request):
            raise RuntimeError("transport bug")

    return Broken()


# --- the network ------------------------------------------------------------------


class Net:
    """A FakeChain with the validator at uid 0 and miners at uids 1.. with given behaviours.

    ``behaviours[uid]`` builds the transport at that miner's axon; None registers the
    uid without an axon (not serving).
    """

    def __init__(self, wallets, tmp_path, behaviours, *, circuits=(CIRCUIT,)) -> None:
        self.wallets = wallets
        self.tmp_path = tmp_path
        self.circuits = list(circuits)
        me = neuron(VALIDATOR_UID, hotkey_of(wallets[0]), stake=MIN_STAKE * 10)
        validator = serving(me, VALIDATOR_AXON)
        self.chain = FakeChain(NETUID, {VALIDATOR_UID: validator})
        self.routing = RoutingTransport()
        # The validator serves an axon too; a request to it would be an honest answer.
        self.routing.routes[VALIDATOR_AXON] = honest(self.chain, wallets[0])
        for uid, build in behaviours.items():
            axon = axon_of(uid) if build is not None else None
            miner = neuron(uid, hotkey_of(wallets[uid]), stake=0.0, permit=False)
            self.chain.neurons[uid] = serving(miner, axon)
            if build is not None:
                self.routing.routes[axon] = build(self.chain, wallets[uid])
        self.verify = FakeVerifier()
        self.store = StateStore(tmp_path / "state" / "state.json")
        self.clients: list[MinerClient] = []

    def validator(self, **options) -> Validator:
        client = MinerClient(self.wallets[0], transport=self.routing)
        self.clients.append(client)
        values = dict(
            wallet=self.wallets[0], chain=self.chain, netuid=NETUID, circuits=self.circuits,
            client=client, verify=self.verify, store=self.store, guard=ReplayGuard(),
            version_key=VERSION_KEY, sample=fake_sample, rng=np.random.default_rng(7),
            allow_private_axons=True,  # the fake network lives on private addresses
            reports_path=self.tmp_path / "state" / "reports.jsonl",
        )
        values.update(options)
        return Validator(**values)

    def seed_averages(self, averages: dict[int, float]) -> None:
        """Store averages earned under the current hotkeys (as after earlier rounds)."""
        hotkeys = {uid: n.hotkey for uid, n in self.chain.neurons.items()}
        self.store.save(ValidatorState(averages=averages, hotkeys={u: hotkeys[u] for u in averages}))

    async def aclose(self) -> None:
        for client in self.clients:
            await client.aclose()


@pytest.fixture
async def nets(wallets, tmp_path):
    made: list[Net] = []

    def make(behaviours, **options) -> Net:
        net = Net(wallets, tmp_path / f"net{len(made)}", behaviours, **options)
        made.append(net)
        return net

    yield make
    for net in made:
        await net.aclose()


# --- rounds and scores --------------------------------------------------------------


async def test_honest_miner_is_verified_and_scores_above_zero(nets):
    net = nets({1: honest})
    report = await net.validator().run_round()
    (record,) = report.records
    assert record.uid == 1 and record.verified, record.reason
    assert report.scores[1] > 0 and report.averages[1] > 0
    assert len(net.verify.calls) == 1


@pytest.mark.parametrize(
    "behaviour, outcome, reason",
    [
        (other_inputs, Outcome.REJECTED, "proof rejected"),
        (garbage, Outcome.REJECTED, "proof rejected"),
        (silent, Outcome.NO_RESPONSE, "timeout"),
        (slow, Outcome.HTTP_ERROR, "http_error: HTTP 408"),
        (failing, Outcome.HTTP_ERROR, "http_error"),
        (impostor, Outcome.BAD_SIGNATURE, "bad_signature"),
    ],
    ids=["other-inputs", "garbage-proof", "timeout", "too-slow-408", "http-500", "bad-signature"],
)
async def test_misbehaving_miner_scores_zero_and_its_average_falls(nets, wallets, behaviour, outcome, reason):
    if behaviour is impostor:
        behaviour = impostor(wallets[6])
    net = nets({1: honest, 2: behaviour})
    net.seed_averages({1: 0.5, 2: 0.5})
    report = await net.validator().run_round()
    bad = next(r for r in report.records if r.uid == 2)
    assert not bad.verified and bad.outcome is outcome and bad.reason.startswith(reason), bad.reason
    assert report.scores[2] == 0.0
    assert report.averages[2] < 0.5
    assert report.scores[1] > 0 and report.averages[1] > 0.5


async def test_replayed_proof_is_rejected_in_a_later_round(nets, wallets):
    """A miner that resends the proof bytes it was once paid for gets nothing for them."""
    first: list[bytes] = []

    async def replay(circuit_id, inputs):
        genuine = fake_result(circuit_id, inputs)
        first.append(genuine.proof.proof)
        proof = type(genuine.proof)(circuit_id, genuine.proof.instances, first[0])
        return type(genuine)(proof, genuine.outputs, 0.0, 0.0)

    net = nets({1: lambda chain, wallet: app(chain, wallet, replay)})
    validator = net.validator()
    assert (await validator.run_round()).records[0].verified
    second = await validator.run_round()
    assert second.records[0].outcome is Outcome.REPLAYED and second.scores[1] == 0.0
    assert len(net.verify.calls) == 1


async def test_validator_skips_itself_and_non_serving_uids_score_zero(nets):
    net = nets({1: honest, 2: None})
    report = await net.validator().run_round()
    assert [r.uid for r in report.records] == [1]
    assert VALIDATOR_AXON not in net.routing.seen
    assert VALIDATOR_UID not in report.scores
    assert report.scores[2] == 0.0 and report.averages[2] == 0.0


async def test_miners_at_private_addresses_are_not_queried_unless_allowed_and_score_zero(nets, caplog):
    """uid 1 announces a public address, uids 2 and 3 private ones (the Net's default)."""
    net = nets({1: honest, 2: honest, 3: honest})
    public = ("1.2.3.4", 8091)
    net.routing.routes[public] = net.routing.routes.pop(axon_of(1))
    net.chain.set_neuron(1, axon=public)
    with caplog.at_level(logging.DEBUG, logger="validator"):
        report = await net.validator(allow_private_axons=False).run_round()
    assert [r.uid for r in report.records] == [1] and report.records[0].verified
    assert set(net.routing.seen) == {public} and net.routing.seen_on(ROUTE_PROVE) == [public]
    assert report.scores[2] == report.scores[3] == 0.0 and report.scores[1] > 0
    skipped = [r for r in caplog.records if "non-routable" in r.getMessage()]
    assert len(skipped) == 1 and skipped[0].levelno == logging.DEBUG and "uids 2, 3" in skipped[0].getMessage()

    allowed = await net.validator(allow_private_axons=True).run_round()
    assert sorted(r.uid for r in allowed.records) == [1, 2, 3]


async def test_a_subnet_with_no_miners_makes_an_empty_round(nets):
    net = nets({})
    report = await net.validator().run_round()
    assert report.records == () and report.scores == {} and report.weights is None
    assert net.chain.submitted == [] and net.routing.seen == []


async def test_every_serving_miner_is_challenged_once_per_round(nets):
    net = nets({1: honest, 2: honest, 3: honest, 4: honest})
    report = await net.validator(concurrency=2).run_round()
    assert sorted(r.uid for r in report.records) == [1, 2, 3, 4]
    assert all(r.verified for r in report.records)
    assert sorted(net.routing.seen_on(ROUTE_PROVE)) == sorted(axon_of(uid) for uid in (1, 2, 3, 4))


async def test_silent_miners_cost_a_round_about_one_timeout_not_one_per_batch(nets):
    """Tried: 1 honest miner and 30 silent stand-ins (they take the request and never answer) at
    a 0.5 s circuit timeout. Must hold: each silent one is no_response, the honest one verified,
    and the round takes about one timeout plus the late grace (0.625 s), not one per batch of 8
    (4 batches: 2.5 s). Structural, with a wide margin: under 3 of them."""
    circuit = FakeCircuit(CIRCUIT_A, "fake-a", timeout_s=0.5)
    net = nets({1: honest}, circuits=(circuit,))
    never = asyncio.Event()

    async def silent(request: httpx.Request) -> httpx.Response:
        await never.wait()
        raise AssertionError("unreachable")

    for uid in range(10, 40):
        net.chain.neurons[uid] = serving(neuron(uid, f"silent-{uid}", stake=0.0, permit=False), axon_of(uid))
        net.routing.routes[axon_of(uid)] = httpx.MockTransport(silent)
    started = time.monotonic()
    report = await net.validator().run_round()
    elapsed = time.monotonic() - started
    by_uid = {r.uid: r for r in report.records}
    assert by_uid[1].verified, by_uid[1].reason
    assert {by_uid[uid].outcome for uid in range(10, 40)} == {Outcome.NO_RESPONSE}
    assert elapsed < 3 * (circuit.timeout_s + late_grace(circuit.timeout_s)), elapsed


async def test_a_challenge_that_raises_in_the_validator_does_not_end_the_round(nets, caplog):
    """A validator-side surprise is a validator_error record, not a score: uid 2's average stands."""
    net = nets({1: honest, 2: broken_transport})
    net.seed_averages({1: 0.5, 2: 0.5})
    with caplog.at_level(logging.ERROR, logger="validator"):
        report = await net.validator().run_round()
    by_uid = {r.uid: r for r in report.records}
    assert by_uid[1].verified
    assert by_uid[2].outcome is Outcome.VALIDATOR_ERROR
    assert by_uid[2].reason == "validator error: RuntimeError"
    assert 2 not in report.scores and report.averages[2] == 0.5
    assert "uid 2" in caplog.text


async def test_verifier_failures_are_not_charged_to_miners_but_are_reported(nets):
    """Every verification raises (a worker dies, and dies again on the retry): the miners'
    averages are untouched and they get no round score, while the verifications metric and
    reports.jsonl still show the validator_error records. A non-serving uid still scores zero."""
    from neurons.shared.prover_pool import WorkerCrashed
    from tests.support.provers import FakeVerifier

    net = nets({1: honest, 2: honest, 3: None})
    net.seed_averages({1: 0.6, 2: 0.4, 3: 0.3})
    net.verify = FakeVerifier(error=WorkerCrashed("a prover worker died during verify"))
    validator = net.validator()
    report = await validator.run_round()
    assert {r.uid: r.outcome for r in report.records} == {1: Outcome.VALIDATOR_ERROR, 2: Outcome.VALIDATOR_ERROR}
    assert len(net.verify.calls) == 4  # each proof verified twice: the retry after the crash
    assert report.scores == {3: 0.0}
    assert report.averages[1] == 0.6 and report.averages[2] == 0.4 and report.averages[3] < 0.3
    count = validator.metrics.registry.get_sample_value(
        "poi_verifications_total", {"outcome": "validator_error"})
    assert count == 2
    (line,) = (net.tmp_path / "state" / "reports.jsonl").read_text().splitlines()
    outcomes = sorted(r["outcome"] for r in json.loads(line)["records"])
    assert outcomes == ["validator_error", "validator_error"]


async def test_each_round_is_appended_to_the_reports_file(nets):
    net = nets({1: honest, 2: failing})
    validator = net.validator()
    await validator.run_round()
    await validator.run_round()
    lines = (net.tmp_path / "state" / "reports.jsonl").read_text().splitlines()
    rounds = [json.loads(line) for line in lines]
    assert [r["round"] for r in rounds] == [1, 2]
    by_uid = {rec["uid"]: rec for rec in rounds[0]["records"]}
    assert set(by_uid) == {1, 2}
    # What neurons/localnet.py reads, and the outcome as its plain string.
    assert by_uid[1]["verified"] and by_uid[1]["outcome"] == "accepted" and by_uid[1]["reason"] is None
    assert by_uid[1]["response_s"] > 0 and by_uid[1]["proof_bytes"] > 0
    assert not by_uid[2]["verified"] and by_uid[2]["outcome"] == "http_error"
    assert by_uid[2]["reason"].startswith("http_error")


async def test_an_unwritable_reports_file_does_not_fail_the_round(nets, caplog):
    net = nets({1: honest})
    reports = net.tmp_path / "reports-is-a-directory"
    reports.mkdir(parents=True)
    validator = net.validator(reports_path=reports)
    with caplog.at_level(logging.ERROR, logger="validator"):
        report = await validator.run_round()
    assert report.records[0].verified and validator.last_report is report
    assert "could not append round 1" in caplog.text


async def test_reports_file_rotates_at_its_size_cap_keeping_one_previous_file(nets):
    """Tried: a reports file already past the cap. Must hold: it moves to reports.jsonl.1
    (replacing an older .1), and the new round starts a fresh file; nothing else is deleted."""
    net = nets({1: honest})
    reports = net.tmp_path / "state" / "reports.jsonl"
    reports.parent.mkdir(parents=True, exist_ok=True)
    reports.write_text("x" * 200 + "\n")
    validator = net.validator(reports_path=reports, reports_max_bytes=100)
    await validator.run_round()
    rotated = reports.with_name("reports.jsonl.1")
    assert rotated.read_text() == "x" * 200 + "\n"
    lines = reports.read_text().splitlines()
    assert len(lines) == 1 and json.loads(lines[0])["round"] == 1


# --- our own standing: permit and stake ------------------------------------------------


def permitted_gauge(validator: Validator) -> float | None:
    return validator.metrics.registry.get_sample_value("poi_validator_permitted")


def skip_warnings(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records
            if r.levelno == logging.WARNING and "not challenging miners nor setting weights" in r.getMessage()]


def lose_permit(net):
    net.chain.set_neuron(VALIDATOR_UID, validator_permit=False)


def lose_registration(net):
    del net.chain.neurons[VALIDATOR_UID]


@pytest.mark.parametrize(
    "lose, options, reason",
    [
        (lose_permit, {}, "uid 0 has no validator permit (stake 1000)"),
        (lambda net: None, {"min_stake": MIN_STAKE * 100}, "uid 0 has stake 1000, under the 10000 miners require"),
        (lose_registration, {}, "is not registered on netuid"),
    ],
    ids=["no-permit", "stake-under-min", "deregistered"],
)
async def test_a_validator_that_may_not_ask_skips_the_round_charging_no_miner(nets, caplog, lose, options, reason):
    """No challenge, no weight write, averages and state untouched, one WARNING per round
    saying why and what to do, the gauge at 0, and the report (and reports.jsonl) says skipped."""
    net = nets({1: honest, 2: honest, 3: None})
    net.seed_averages({1: 0.6, 2: 0.4, 3: 0.2})
    lose(net)
    saved = net.store.path.read_bytes()
    validator = net.validator(**options)
    with caplog.at_level(logging.INFO, logger="validator"):
        reports = [await validator.run_round(), await validator.run_round()]
    for report in reports:
        assert reason in report.skipped
        assert report.records == () and report.scores == {} and report.weights is None
        assert report.averages == {1: 0.6, 2: 0.4, 3: 0.2}
    assert net.routing.seen == [] and net.chain.submitted == [] and net.verify.calls == []
    assert net.store.path.read_bytes() == saved
    assert permitted_gauge(validator) == 0
    warnings = skip_warnings(caplog)
    assert len(warnings) == 2 and warnings[0].startswith("round 1 ") and warnings[1].startswith("round 2 ")
    assert reason in warnings[0] and "btcli" in warnings[0]
    lines = [json.loads(line) for line in (net.tmp_path / "state" / "reports.jsonl").read_text().splitlines()]
    assert [(line["round"], line["records"]) for line in lines] == [(1, []), (2, [])]
    assert all(reason in line["skipped"] for line in lines)


async def test_a_permitted_round_reports_nothing_skipped_and_sets_the_gauge_to_one(nets, caplog):
    net = nets({1: honest})
    validator = net.validator(min_stake=MIN_STAKE * 10)  # exactly our stake: still permitted
    with caplog.at_level(logging.INFO, logger="validator"):
        report = await validator.run_round()
    assert report.skipped is None and report.records[0].verified
    assert permitted_gauge(validator) == 1 and skip_warnings(caplog) == []
    (line,) = (net.tmp_path / "state" / "reports.jsonl").read_text().splitlines()
    assert json.loads(line)["skipped"] is None


async def test_losing_and_regaining_the_permit_mid_run_stops_and_resumes_challenges_keeping_scores(nets):
    net = nets({1: honest, 2: failing})
    validator = net.validator()
    first = await validator.run_round()
    assert first.skipped is None and len(first.records) == 2 and len(net.chain.submitted) == 1
    seen = len(net.routing.seen)

    lose_permit(net)
    net.chain.current_block += 500  # past the rate limit: only the skip stops a weight write
    second = await validator.run_round()
    assert second.skipped is not None and second.averages == first.averages
    assert len(net.routing.seen) == seen and len(net.chain.submitted) == 1
    assert permitted_gauge(validator) == 0
    assert net.store.load().state.averages == first.averages

    net.chain.set_neuron(VALIDATOR_UID, validator_permit=True)
    third = await validator.run_round()
    assert third.skipped is None and sorted(r.uid for r in third.records) == [1, 2]
    assert third.averages[1] > first.averages[1] > 0  # built on the kept average, not from zero
    assert len(net.chain.submitted) == 2 and permitted_gauge(validator) == 1


def refuses_our_stake(chain, wallet):
    """A miner whose --miner.min_stake is above the validator's stake: 403 forbidden."""
    return httpx.ASGITransport(build_miner_app(
        wallet=wallet, prove=AsyncFakeProver(), circuits={CIRCUIT_A}, metagraph=chain.view, netuid=NETUID,
        min_stake=MIN_STAKE * 100, max_queue=4,
    ))


async def test_a_miner_refusing_us_403_forbidden_is_not_charged_and_is_one_warning(nets, caplog):
    """Our metagraph permits us, yet the miner refuses (its min_stake is higher, or its metagraph
    behind): its average stands, it gets no round score, and the round warns once."""
    net = nets({1: honest, 2: refuses_our_stake, 3: refuses_our_stake})
    net.seed_averages({1: 0.5, 2: 0.5, 3: 0.3})
    validator = net.validator()
    with caplog.at_level(logging.WARNING, logger="validator"):
        report = await validator.run_round()
    by_uid = {r.uid: r for r in report.records}
    assert by_uid[1].verified and by_uid[2].outcome is by_uid[3].outcome is Outcome.FORBIDDEN
    assert 2 not in report.scores and 3 not in report.scores
    assert report.averages[2] == 0.5 and report.averages[3] == 0.3 and report.averages[1] > 0.5
    assert validator.metrics.registry.get_sample_value(
        "poi_verifications_total", {"outcome": "forbidden"}) == 2
    refusals = [r.getMessage() for r in caplog.records if "refused us as not permitted" in r.getMessage()]
    assert len(refusals) == 1 and "uids 2, 3" in refusals[0] and "not charged" in refusals[0]


async def test_past_the_grace_a_miner_answering_forbidden_forever_is_charged(nets, caplog):
    """The attack: a miner that stops proving and answers 403 forbidden to a permitted validator
    must not keep its average frozen. Once our permit is older than the grace (a miner's
    metagraph may lag ours that long; the test above is inside it), the refusal scores zero."""
    net = nets({1: honest, 2: refuses_our_stake})
    net.seed_averages({1: 0.5, 2: 0.5})
    validator = net.validator(forbidden_grace_s=0.0)
    with caplog.at_level(logging.WARNING, logger="validator"):
        report = await validator.run_round()
    assert report.scores[2] == 0.0 and report.averages[2] < 0.5
    (line,) = [r.getMessage() for r in caplog.records if "refused us as not permitted" in r.getMessage()]
    assert "charged to them" in line and "not charged" not in line


# --- weights ----------------------------------------------------------------------


async def test_weights_are_submitted_as_one_intent_uids_ascending_normalised_with_the_version_key(nets):
    net = nets({1: honest, 2: honest, 3: failing})
    net.seed_averages({1: 0.6, 2: 0.2, 3: 0.2})
    report = await net.validator().run_round()
    assert report.weights is not None and report.weights.ok
    (intent,) = net.chain.submitted
    assert isinstance(intent, bt.SetWeights)
    assert intent.netuid == NETUID and intent.version_key == VERSION_KEY
    assert intent.uids == [1, 2, 3]
    total = sum(report.averages[u] for u in (1, 2, 3))
    assert intent.weights == pytest.approx([report.averages[u] / total for u in (1, 2, 3)])
    assert intent.weights[0] > intent.weights[1] > intent.weights[2] > 0


async def test_weights_leave_out_miners_without_a_positive_average(nets):
    net = nets({1: honest, 2: failing, 3: None})
    await net.validator().run_round()
    (intent,) = net.chain.submitted
    assert intent.uids == [1] and intent.weights == [pytest.approx(1.0)]


async def test_a_write_the_rate_limit_refuses_is_quiet_then_made_once_it_passes(nets, caplog):
    """The chain's refusal (the one rate-limit decision) is a DEBUG line, not a failure: no
    warning, no failed-write metrics, no report entry; the write lands once the limit passes."""
    net = nets({1: honest})
    net.chain.set_neuron(VALIDATOR_UID, last_update=net.chain.current_block - 10)
    validator = net.validator()
    with caplog.at_level(logging.DEBUG, logger="validator"):
        report = await validator.run_round()
    assert report.weights is None and net.chain.submitted == []
    assert "weights not set yet: rate limited" in caplog.text
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    sample = validator.metrics.registry.get_sample_value
    assert sample("poi_weight_updates_total", {"outcome": "failed"}) in (None, 0)
    assert sample("poi_chain_errors_total", {"operation": "set_weights"}) in (None, 0)
    net.chain.current_block += net.chain.rate_limit
    result = await validator.maybe_set_weights()
    assert result is not None and result.ok and len(net.chain.submitted) == 1
    assert validator.state.last_weights_block == net.chain.current_block


async def test_no_weights_when_no_miner_has_a_positive_score(nets):
    net = nets({1: failing, 2: slow, 3: None})
    validator = net.validator()
    report = await validator.run_round()
    assert report.weights is None and net.chain.submitted == []
    assert all(v == 0.0 for v in report.averages.values())
    assert validator.metrics.registry.get_sample_value("poi_weight_updates_total", {"outcome": "skipped"}) == 1


async def test_stale_weights_warning_after_more_than_two_tempos(nets, caplog):
    net = nets({1: honest})
    chain = net.chain
    validator = net.validator()
    chain.set_neuron(VALIDATOR_UID, last_update=chain.current_block - 2 * chain.tempo_blocks)
    with caplog.at_level(logging.WARNING, logger="validator"):
        await validator.maybe_set_weights()
    assert "more than two tempos" not in caplog.text
    chain.set_neuron(VALIDATOR_UID, last_update=chain.current_block - 2 * chain.tempo_blocks - 1)
    with caplog.at_level(logging.WARNING, logger="validator"):
        await validator.maybe_set_weights()
    assert "more than two tempos" in caplog.text


async def test_weights_that_never_land_warn_after_two_tempos_from_the_start(nets, caplog):
    """Every write rejected (no permit): nothing ever lands, so the reference is the block
    of the validator's first metagraph read. The gauge counts from it; no warning at
    exactly two tempos, the "not landed since the validator started" warning after."""
    net = nets({1: honest})
    chain = net.chain
    chain.weights_error = "set_weights rejected: no validator permit"
    chain.rate_limit = 0  # every round tries, and fails
    validator = net.validator()
    start = chain.current_block
    with caplog.at_level(logging.WARNING, logger="validator"):
        await validator.run_round()
        assert validator.started_block == start
        assert gauge(validator) == 0
        chain.current_block = start + 2 * chain.tempo_blocks
        await validator.run_round()
    assert gauge(validator) == 2 * chain.tempo_blocks
    assert "more than two tempos" not in caplog.text
    assert len(chain.submitted) == 2
    chain.current_block += 1
    with caplog.at_level(logging.WARNING, logger="validator"):
        await validator.run_round()
    assert gauge(validator) == 2 * chain.tempo_blocks + 1
    assert validator.state.last_weights_block is None
    stale = [r.getMessage() for r in caplog.records if "more than two tempos" in r.getMessage()]
    assert stale == [
        f"weights have not landed since the validator started {2 * chain.tempo_blocks + 1} blocks ago "
        f"(more than two tempos of {chain.tempo_blocks}): dividends are being lost; "
        "check the chain errors above"
    ]


async def test_the_start_block_does_not_delay_the_first_weight_write(nets):
    """The start block only feeds the staleness check, never the rate limit: a fresh
    validator with nothing landed sets weights in its first round."""
    net = nets({1: honest})
    validator = net.validator()
    report = await validator.run_round()
    assert report.weights is not None and report.weights.ok
    assert validator.started_block == net.chain.current_block


async def test_a_rejected_weight_write_is_reported_and_not_recorded(nets, caplog):
    net = nets({1: honest})
    net.chain.weights_error = "set_weights rejected: no validator permit"
    validator = net.validator()
    with caplog.at_level(logging.WARNING, logger="validator"):
        report = await validator.run_round()
    assert report.weights is not None and not report.weights.ok
    assert validator.state.last_weights_block is None
    assert "no validator permit" in caplog.text


async def test_a_weight_write_lost_with_the_connection_keeps_the_round(nets, caplog):
    net = nets({1: honest})
    net.chain.fail_ops.add("submit")
    validator = net.validator()
    with caplog.at_level(logging.WARNING, logger="validator"):
        report = await validator.run_round()
    assert report.records[0].verified
    assert report.weights is not None and not report.weights.ok
    assert validator.last_report is report
    assert net.store.load().state.averages[1] == report.averages[1] > 0
    assert "setting weights failed: fake chain: lost the connection" in caplog.text
    sample = validator.metrics.registry.get_sample_value
    assert sample("poi_weight_updates_total", {"outcome": "failed"}) == 1
    assert sample("poi_chain_errors_total", {"operation": "set_weights"}) == 1


async def test_final_weights_wait_out_the_rate_limit_and_a_chain_hiccup(nets):
    """A fixed-rounds run ends with its weights on chain even if the last round could not
    set them (rate limit) and the chain drops a read while it waits."""
    net = nets({1: honest})
    chain = net.chain
    chain.set_neuron(VALIDATOR_UID, last_update=chain.current_block - 10)
    validator = net.validator()
    assert (await validator.run_round()).weights is None
    chain.current_block += chain.rate_limit
    chain.fail_reads = 1
    await asyncio.wait_for(validator.set_final_weights(max_wait_s=5.0, poll_s=0.01), timeout=10)
    assert len(chain.submitted) == 1 and chain.submitted[0].uids == [1]


async def test_final_weights_give_up_at_once_with_nothing_positive(nets):
    net = nets({1: failing})
    validator = net.validator()
    await validator.run_round()
    await asyncio.wait_for(validator.set_final_weights(max_wait_s=30.0, poll_s=5.0), timeout=5)
    assert net.chain.submitted == []


async def test_final_weights_are_not_attempted_after_a_skipped_round(nets):
    """A run of fixed rounds whose last round was skipped (no permit) makes no doomed final write,
    although the kept averages are positive and the rate limit has passed."""
    net = nets({1: honest})
    net.seed_averages({1: 0.5})
    lose_permit(net)
    validator = net.validator()
    assert (await validator.run_round()).skipped is not None
    await asyncio.wait_for(validator.set_final_weights(max_wait_s=30.0, poll_s=5.0), timeout=5)
    assert net.chain.submitted == []


# --- state across restarts ----------------------------------------------------------


async def test_state_survives_a_restart(nets):
    net = nets({1: honest, 2: failing})
    net.seed_averages({2: 0.4})
    first = net.validator()
    report = await first.run_round()
    restarted = net.validator()
    assert restarted.state.averages == report.averages
    assert restarted.state.counters["rounds"] == 1
    assert restarted.state.last_weights_block == first.state.last_weights_block is not None


async def test_uid_with_a_new_hotkey_starts_from_zero(nets, wallets):
    """uid 2 changes hands (and does not serve yet); uid 3 keeps its hotkey and does not serve."""
    net = nets({1: honest, 2: honest, 3: honest})
    await net.validator().run_round()
    net.chain.set_neuron(2, hotkey=hotkey_of(wallets[5]), axon=None)
    net.chain.set_neuron(3, axon=None)
    before = net.validator().state.averages
    assert before[2] > 0 and before[3] > 0
    report = await net.validator().run_round()
    assert report.averages[2] == 0.0
    assert 0.0 < report.averages[3] < before[3]
    assert report.averages[1] > before[1]


async def test_a_miner_that_swaps_its_hotkey_keeps_its_score(nets, wallets):
    """uid 2's owner swaps hotkeys (same uid, same registration block): its average carries
    over, and the state records the new hotkey; a restarted validator agrees."""
    net = nets({1: honest, 2: honest})
    net.chain.set_neuron(2, registered_at=40)
    first = await net.validator().run_round()
    assert first.averages[2] > 0
    net.chain.set_neuron(2, hotkey=hotkey_of(wallets[5]), axon=None)
    report = await net.validator().run_round()
    assert 0.0 < report.averages[2] < first.averages[2]  # kept, then lowered: it did not serve
    restarted = net.validator()
    assert restarted.state.hotkeys[2] == hotkey_of(wallets[5]) and restarted.state.registered[2] == 40


async def test_a_uids_recent_times_go_with_its_average_on_a_new_registration_and_stay_on_a_swap(nets, wallets):
    """The speed a miner is judged by (its recent valid times) follows the same rule as its
    average: uid 2 changes hands (registered anew) and its times are dropped; uid 3's owner
    swaps hotkeys (same registration block) and its times stay; uid 4 leaves and its go."""
    net = nets({1: honest, 2: honest, 3: honest, 4: honest})
    net.chain.set_neuron(3, registered_at=40)
    validator = net.validator()
    await validator.run_round()
    assert set(validator.state.circuits[CIRCUIT_A].recent) == {1, 2, 3, 4}
    net.chain.set_neuron(2, hotkey=hotkey_of(wallets[5]), axon=None, registered_at=77)
    net.chain.set_neuron(3, hotkey=hotkey_of(wallets[6]), axon=None)
    del net.chain.neurons[4]
    await validator.run_round()
    recent = net.validator().state.circuits[CIRCUIT_A].recent  # as saved
    assert len(recent[1]) == 2 and len(recent[3]) == 1
    assert 2 not in recent and 4 not in recent


# --- the loop ----------------------------------------------------------------------


async def test_a_round_whose_chain_read_fails_does_not_stop_run(nets, caplog):
    """A chain hiccup is one warning line, counted in chain_errors{operation="round"}."""
    net = nets({1: honest})
    net.chain.fail_reads = 1  # the first round's metagraph read fails
    validator = net.validator()
    with caplog.at_level(logging.WARNING, logger="validator"):
        await asyncio.wait_for(validator.run(rounds=2, round_interval=0.0), timeout=10)
    assert "round 1: chain read failed" in caplog.text
    assert validator.metrics.registry.get_sample_value("poi_chain_errors_total", {"operation": "round"}) == 1
    assert validator.rounds_done == 2
    assert validator.last_report is not None and validator.last_report.records[0].verified


async def test_stop_is_honoured_while_the_chain_stalls_mid_round(nets):
    net = nets({1: honest})
    validator = net.validator()
    net.chain.hang_ops.add("metagraph")
    stop = asyncio.Event()
    task = asyncio.create_task(validator.run(round_interval=0.0, stop=stop))
    while net.chain.hung == 0:
        await asyncio.sleep(0.01)
    stop.set()
    await asyncio.wait_for(task, timeout=5)
    assert validator.rounds_done == 0 and validator.last_report is None


async def test_run_stops_when_asked(nets):
    net = nets({1: honest})
    validator = net.validator()
    stop = asyncio.Event()
    task = asyncio.create_task(validator.run(round_interval=60.0, stop=stop))
    while validator.rounds_done < 1:
        await asyncio.sleep(0.01)
    stop.set()
    await asyncio.wait_for(task, timeout=5)
    assert validator.rounds_done == 1


# --- with the real execution layer ----------------------------------------------------


async def test_real_proofs_honest_miner_verified_and_cheat_rejected(nets, real):
    """One honest EZKL proof passes the real verifier; a real proof of other inputs does not."""
    circuit, prover, verifier = real
    cheat_rng = np.random.default_rng(99)

    async def prove_honestly(circuit_id, inputs):
        return await asyncio.to_thread(prover.prove, circuit_id, inputs)

    async def prove_other_inputs(circuit_id, inputs):
        return await asyncio.to_thread(prover.prove, circuit_id, fresh_input(circuit, cheat_rng))

    async def verify(circuit_id, proof, inputs):
        return await asyncio.to_thread(verifier.verify, circuit_id, proof, list(inputs))

    def real_app(prove):
        return lambda chain, wallet: httpx.ASGITransport(build_miner_app(
            wallet=wallet, prove=prove, circuits={circuit.id}, metagraph=chain.view, netuid=NETUID,
            min_stake=MIN_STAKE, max_queue=4,
        ))

    net = nets({1: real_app(prove_honestly), 2: real_app(prove_other_inputs)}, circuits=(circuit,))
    # sample=None: the validator's own default, the circuit's pinned pool through models.sampling.
    report = await net.validator(verify=verify, sample=None, concurrency=1).run_round()
    by_uid = {r.uid: r for r in report.records}
    assert by_uid[1].verified, by_uid[1].reason
    assert by_uid[1].outputs is not None and len(by_uid[1].outputs) > 0
    assert report.scores[1] > 0
    assert not by_uid[2].verified and "other inputs" in by_uid[2].reason
    assert report.scores[2] == 0.0
    assert net.chain.submitted[0].uids == [1]


# --- capabilities ---------------------------------------------------------------------


async def test_a_circuit_the_miner_does_not_list_is_never_sent_and_scores_zero(nets):
    """Tried: the validator has circuits A and B; miner 1 serves A only, as its capabilities
    say (asked beside the first round). Then eight rounds draw from both circuits.
    Must hold: no proof request for B reaches the miner; each B drawn is an ``http_error``
    "not served" record (zero, as the 404 it would have been answered); every A is verified."""
    circuit_b = FakeCircuit(CIRCUIT_B, "fake-b", timeout_s=1.0)
    net = nets({1: honest}, circuits=(CIRCUIT, circuit_b))
    validator = net.validator()
    await validator.run_round()
    await validator.capabilities.settle()
    sent_before = len(net.routing.seen_on(ROUTE_PROVE))
    records = [r for _ in range(8) for r in (await validator.run_round()).records]
    drawn_a = [r for r in records if r.circuit_id == CIRCUIT_A]
    drawn_b = [r for r in records if r.circuit_id == CIRCUIT_B]
    assert drawn_a and drawn_b  # the seeded draws pick both
    assert all(r.outcome is Outcome.HTTP_ERROR and "not sent" in r.reason for r in drawn_b)
    assert all(r.verified for r in drawn_a)
    assert len(net.routing.seen_on(ROUTE_PROVE)) - sent_before == len(drawn_a)


# --- the subnet owner's circuit pin ---------------------------------------------------


def _pin_watcher(net, *pinned, enforce=True):
    """A PinWatcher over the validator's circuits, the FakeChain's owner pinning ``pinned``."""
    from neurons.chain import Commitment
    from neurons.shared.pins import PinWatcher, pin_set_of
    from protocol import encode_pin

    owner = net.chain.neurons[VALIDATOR_UID].hotkey
    net.chain.owner_hotkey = owner
    fields = tuple({k: "0x" + v.hex() for k, v in f.items()} for f in encode_pin(pin_set_of(pinned)))
    net.chain.commitments[owner] = Commitment(owner, net.chain.current_block, fields)
    return PinWatcher(net.circuits, chain=net.chain, netuid=NETUID, network="finney" if enforce else "devnet",
                      enforce=enforce, role="challenged")


async def test_on_a_public_network_a_circuit_outside_the_pin_is_never_challenged(nets):
    """Tried: the validator has circuits A and B, the owner's pin holds A only, pins enforced
    (finney). Eight rounds. Must hold: every challenge is on A, none is recorded for B (not
    even as "not served"), and every A is verified."""
    circuit_b = FakeCircuit(CIRCUIT_B, "fake-b", timeout_s=1.0)
    net = nets({1: honest}, circuits=(CIRCUIT, circuit_b))
    validator = net.validator(pins=_pin_watcher(net, CIRCUIT))
    records = [r for _ in range(8) for r in (await validator.run_round()).records]
    assert len(records) == 8
    assert all(r.circuit_id == CIRCUIT_A and r.verified for r in records)


async def test_on_the_devnet_an_unpinned_circuit_is_still_challenged(nets):
    circuit_b = FakeCircuit(CIRCUIT_B, "fake-b", timeout_s=1.0)
    net = nets({1: honest}, circuits=(CIRCUIT, circuit_b))
    validator = net.validator(pins=_pin_watcher(net, CIRCUIT, enforce=False))
    records = [r for _ in range(8) for r in (await validator.run_round()).records]
    assert {r.circuit_id for r in records} == {CIRCUIT_A, CIRCUIT_B}


async def test_a_pin_changed_mid_run_applies_from_the_next_round(nets):
    """Tried: the pin holds B (the miner serves A only), so rounds challenge B; then the owner
    publishes A. Must hold: from the next round on every challenge is on A, without a restart."""
    from neurons.chain import Commitment
    from neurons.shared.pins import pin_set_of
    from protocol import encode_pin

    circuit_b = FakeCircuit(CIRCUIT_B, "fake-b", timeout_s=1.0)
    net = nets({1: honest}, circuits=(CIRCUIT, circuit_b))
    validator = net.validator(pins=_pin_watcher(net, circuit_b))
    before = [r for _ in range(3) for r in (await validator.run_round()).records]
    assert {r.circuit_id for r in before} == {CIRCUIT_B}
    owner = net.chain.owner_hotkey
    fields = tuple({k: "0x" + v.hex() for k, v in f.items()} for f in encode_pin(pin_set_of([CIRCUIT])))
    net.chain.commitments[owner] = Commitment(owner, net.chain.current_block + 5, fields)
    after = [r for _ in range(4) for r in (await validator.run_round()).records]
    assert {r.circuit_id for r in after} == {CIRCUIT_A} and all(r.verified for r in after)


async def test_when_no_circuit_of_ours_is_pinned_the_round_is_skipped_and_says_why(nets, caplog):
    net = nets({1: honest})
    other = FakeCircuit(CIRCUIT_B, "fake-b")
    net.seed_averages({1: 0.5})
    validator = net.validator(pins=_pin_watcher(net, other))
    with caplog.at_level(logging.WARNING):
        report = await validator.run_round()
    assert report.skipped == "none of our circuits is in the subnet owner's pin"
    assert report.records == () and report.weights is None and report.averages == {1: 0.5}
    assert not net.routing.seen_on(ROUTE_PROVE)
