"""Fuzzing the validator's response handling: generated answers from a hostile miner.

Tried: thousands of answers hypothesis builds: any status, content type and encoding header;
no, garbage or a genuine signature by the miner (over exactly the bytes sent); bodies that are
random bytes, random JSON, or a genuine ``ProofResponse`` with fields dropped, added or replaced
by any JSON value (outputs contradicting the proof, another protocol version, another request
id, huge numbers, wrong types). Each goes through the real ``MinerClient`` and the real
``challenge_miner`` (the verifier is ``FakeVerifier``, which accepts exactly the fake proof of the
validator's inputs). Must hold for every one: no exception escapes; the record is ``accepted``
only for an answer that is in fact the genuine one (signed, 200, every field as the honest miner
sent it); and memory does not grow with the number of answers.
"""

from __future__ import annotations

import asyncio
import json
import resource
import time

import httpx
import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from neurons.mining.guard import sign_response
from neurons.shared.proofs import proof_response
from neurons.validating.challenge import Outcome, challenge_miner
from neurons.validating.client import MinerClient
from neurons.validating.replay_guard import ReplayGuard
from protocol import PROTOCOL_VERSION, ProofRequest, encode
from tests.support.chain import neuron, serving
from tests.support.network import RoutingTransport
from tests.support.properties import PROPERTY
from tests.support.provers import CIRCUIT_A, FakeCircuit, FakeVerifier, fake_result, fake_sample
from tests.support.strategies import JSON_VALUES, weighted
from tests.support.wallets import hotkey_of

EXAMPLES = 6000  # with the miner's 4,000 requests: 10,000 per CI run
FUZZ = settings(PROPERTY, max_examples=EXAMPLES, suppress_health_check=[HealthCheck.too_slow,
                                                                       HealthCheck.data_too_large])
AXON = ("10.0.0.9", 8091)
CIRCUIT = FakeCircuit(CIRCUIT_A, "fake-a", timeout_s=5.0)
_FIELDS = ("protocol_version", "request_id", "circuit_id", "outputs", "proof", "instances", "queue_s", "prove_s")


# How the hostile miner answers: (status, extra headers, signed?, body recipe)
_answers = st.fixed_dictionaries({
    "status": weighted((75, st.just(200)), (25, st.sampled_from([201, 204, 301, 400, 403, 404, 408, 422, 500, 503]))),
    "signed": weighted((80, st.just("genuine")), (20, st.sampled_from(["none", "garbage", "other_body"]))),
    "encoding": weighted((90, st.just(None)), (10, st.sampled_from(["gzip", "br", "deflate", "IDENTITY", ""]))),
    "body": weighted(
        # The genuine answer with up to two fields dropped, replaced by any JSON, or replaced by a
        # plausible lie that still fits the schema (the ones only a check of meaning can catch).
        (70, st.lists(st.tuples(st.sampled_from(_FIELDS), weighted(
            (50, st.just(("lie", None))), (25, st.just(("drop", None))), (25, JSON_VALUES.map(lambda v: ("json", v))),
        )), max_size=2, unique_by=lambda pair: pair[0]).map(lambda edits: ("edit", edits))),
        (15, JSON_VALUES.map(lambda v: ("json", v))),
        (15, st.binary(max_size=300).map(lambda b: ("raw", b))),
    ),
    "extra_field": weighted((90, st.just(None)), (10, st.tuples(st.text(min_size=1, max_size=8), JSON_VALUES))),
})


# The fields whose value is the answer; the miner's own account of its time may say anything valid.
_MATERIAL = ("request_id", "circuit_id", "outputs", "proof", "instances")


def _lie(name: str, genuine: dict):
    """A value for ``name`` that fits the schema but is not the genuine one."""
    if name == "outputs":
        return [v + 1.0 for v in genuine["outputs"]]
    if name == "instances":
        first = genuine["instances"][0]
        return [["0" * 64] + first[1:]] + genuine["instances"][1:]
    return {"protocol_version": PROTOCOL_VERSION + 1, "request_id": "f" * 32, "circuit_id": "b" * 64,
            "proof": "eHh4eHh4eHh4eHh4eHh4eA==", "queue_s": 0.5, "prove_s": 0.5}[name]


def _body(request: httpx.Request, recipe) -> tuple[bytes, bool]:
    """The answer's bytes for ``request``, and whether it says what the genuine answer says."""
    req = ProofRequest.model_validate_json(request.content)
    genuine = json.loads(encode(proof_response(fake_result(req.circuit_id, req.inputs),
                                               request_id=req.request_id, queue_s=0.0)))
    kind = recipe["body"]
    if kind[0] == "json":
        return json.dumps(kind[1]).encode(), False
    if kind[0] == "raw":
        return kind[1], False
    body = dict(genuine)
    for name, (action, value) in kind[1]:
        if action == "drop":
            body.pop(name)
        else:
            body[name] = _lie(name, genuine) if action == "lie" else value
    if recipe["extra_field"] is not None:
        key, value = recipe["extra_field"]
        body[key] = value
    same = all(body.get(name) == genuine[name] for name in _MATERIAL) and body.get("protocol_version", PROTOCOL_VERSION) == PROTOCOL_VERSION
    return json.dumps(body).encode(), same


def test_no_generated_answer_escapes_as_an_exception_or_is_accepted_unless_genuine(cast):
    loop = asyncio.new_event_loop()
    verifier = FakeVerifier()
    me = serving(neuron(0, hotkey_of(cast.miner)), AXON)
    current: dict = {}
    seen = {"count": 0, "accepted": 0, "outcomes": {}}
    rss_kb: list[int] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        recipe = current["recipe"]
        content, genuine = _body(request, recipe)
        current["genuine"] = genuine and recipe["status"] == 200 and recipe["signed"] == "genuine" \
            and recipe["encoding"] in (None, "IDENTITY", "")
        headers: dict[str, str] = {}
        if recipe["signed"] in ("genuine", "other_body"):
            headers = sign_response(
                cast.miner, route=request.url.path, request_nonce=request.headers["X-Bittensor-Nonce"],
                body=content if recipe["signed"] == "genuine" else content + b" ",
                receiver=request.headers["X-Bittensor-Hotkey"], nonce_ns=time.time_ns(),
            )
        elif recipe["signed"] == "garbage":
            headers = {"X-Bittensor-Signature": "0x00", "X-Bittensor-Hotkey": hotkey_of(cast.miner),
                       "X-Bittensor-Nonce": "1"}
        if recipe["encoding"] is not None:
            headers["Content-Encoding"] = recipe["encoding"]
        return httpx.Response(recipe["status"], content=content, headers=headers)

    client = MinerClient(cast.validator, transport=RoutingTransport({AXON: httpx.MockTransport(handler)}))

    @FUZZ
    @given(recipe=_answers)
    def one(recipe) -> None:
        seen["count"] += 1
        if seen["count"] in (500, EXAMPLES):
            rss_kb.append(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
        current["recipe"] = recipe
        record = loop.run_until_complete(challenge_miner(
            neuron=me, circuit=CIRCUIT, client=client, verify=verifier, guard=ReplayGuard(),
            sample=fake_sample, rng=np.random.default_rng(seen["count"]),
        ))
        seen["outcomes"][record.outcome.value] = seen["outcomes"].get(record.outcome.value, 0) + 1
        if record.outcome is Outcome.ACCEPTED:
            seen["accepted"] += 1
            assert current["genuine"], recipe
        else:
            assert not record.verified and record.reason

    try:
        one()
    finally:
        loop.run_until_complete(client.aclose())
        loop.close()
    assert seen["count"] >= EXAMPLES
    # Deep enough: many genuine answers accepted, and many that got past the signature to be judged.
    judged = sum(n for kind, n in seen["outcomes"].items() if kind in ("bad_response", "rejected"))
    assert seen["accepted"] > EXAMPLES // 20 and judged > EXAMPLES // 10, seen
    assert rss_kb[-1] - rss_kb[0] < 64 * 1024, rss_kb
