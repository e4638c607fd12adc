"""Fuzzing the miner's app in process: generated requests, from strangers and from a permitted validator.

Tried: thousands of requests hypothesis builds (any method and path; no, garbage or genuine
``btauth/1`` headers; bodies that are random bytes, random JSON, or a valid ``ProofRequest``
with fields dropped, added or replaced by any JSON value; inputs of any length and range;
deadlines past, near and far). The prover is a fake that always succeeds, and the circuit takes
exactly 2 inputs in [0, 1] (the app's ``check_inputs``), so whatever fails is the caller's
mistake. Must hold for every one: no 5xx; a JSON body that is an ``ErrorResponse`` (or the
protocol message on 200); a 200 only for a request that is in fact valid; and memory that does
not grow with the number of requests (the nonce store is bounded by time).
"""

from __future__ import annotations

import asyncio
import json
import resource
import time

import bittensor as bt
import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from neurons.mining.app import build_miner_app
from protocol import (
    PROTOCOL_VERSION,
    ROUTE_CAPABILITIES,
    ROUTE_PROVE,
    Capabilities,
    ErrorResponse,
    ProofResponse,
    decode,
)
from tests.support.cast import MIN_STAKE, NETUID
from tests.support.properties import PROPERTY
from tests.support.provers import CIRCUIT_A, CIRCUIT_B, AsyncFakeProver
from tests.support.strategies import JSON_VALUES, PERCENT, weighted
from tests.support.wallets import hotkey_of

# Requests per CI run here; the validator's side (tests/neurons/validating/test_client_fuzz.py)
# adds as many responses.
EXAMPLES = 4000
FUZZ = settings(PROPERTY, max_examples=EXAMPLES, suppress_health_check=[HealthCheck.too_slow,
                                                                       HealthCheck.data_too_large])


_FIELDS = ("protocol_version", "request_id", "circuit_id", "inputs", "deadline")


def _inside(low: float = 0.0, high: float = 1.0):
    return st.floats(low, high, allow_nan=False)


@st.composite
def _proof_request(draw) -> dict:
    """A ProofRequest-shaped dict, sometimes valid, usually broken in one or more ways."""
    body: dict = {
        "protocol_version": PROTOCOL_VERSION,
        "request_id": draw(weighted((85, st.just("0123456789abcdef" * 2)), (15, st.sampled_from(["A" * 32, "ab", ""])))),
        "circuit_id": draw(weighted((80, st.sampled_from([CIRCUIT_A, CIRCUIT_B])),
                                     (20, st.sampled_from(["c" * 64, "Z" * 64, "short"])))),
        "inputs": draw(weighted(
            (50, st.lists(_inside(), min_size=2, max_size=2)),  # fits the circuit
            (25, st.lists(_inside(), min_size=0, max_size=6)),  # wrong length
            (25, st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=2, max_size=2)),  # out of range
        )),
        "deadline": time.time() + draw(weighted(
            (70, st.sampled_from([5.0, 30.0, 59.0])), (30, st.sampled_from([-5.0, 0.0, 61.0, 1e9])),
        )),
    }
    broken = [] if draw(PERCENT) < 75 else draw(st.lists(st.sampled_from(_FIELDS), min_size=1, max_size=2, unique=True))
    for name in broken:
        if draw(st.booleans()):
            del body[name]
        else:
            body[name] = draw(JSON_VALUES)
    if draw(st.integers(0, 9)) == 0:
        body[draw(st.text(min_size=1, max_size=8))] = draw(JSON_VALUES)
    return body


# Weighted towards what gets deep into the app (signed POSTs of near-valid requests), so that the
# prover and the input check are reached often, not once in a thousand.
_bodies = weighted(
    (80, _proof_request().map(lambda d: json.dumps(d).encode())),
    (10, JSON_VALUES.map(lambda v: json.dumps(v).encode())),
    (10, st.binary(max_size=300)),
)
_auth = weighted((80, st.just("signed")), (20, st.sampled_from(["none", "garbage", "stranger", "wrong_path"])))
_calls = weighted((85, st.just(("POST", ROUTE_PROVE))), (15, st.sampled_from([
    ("GET", ROUTE_CAPABILITIES), ("POST", ROUTE_CAPABILITIES), ("POST", ROUTE_PROVE + "/"), ("GET", "/"),
    ("POST", "/v1/other"), ("GET", "/%00"), ("POST", "/v1/prove?x=1"), ("PUT", ROUTE_PROVE),
    ("DELETE", ROUTE_PROVE), ("OPTIONS", ROUTE_PROVE), ("PATCH", ROUTE_CAPABILITIES),
])))


def _headers(cast, auth: str, method: str, route: str, body: bytes) -> dict[str, str]:
    receiver = hotkey_of(cast.miner)
    if auth == "none":
        return {}
    if auth == "garbage":
        return {"X-Bittensor-Hotkey": hotkey_of(cast.validator), "X-Bittensor-Nonce": "12",
                "X-Bittensor-Signature": "0xzz", "X-Bittensor-Receiver": receiver}
    wallet = cast.stranger if auth == "stranger" else cast.validator
    path = "/elsewhere" if auth == "wrong_path" else route
    return bt.http_auth.sign(wallet, method=method, path=path, body=body, receiver_ss58=receiver)


def _fits(body: bytes) -> bool:
    """Whether ``body`` is a request this miner must prove (the oracle for a 200)."""
    try:
        d = json.loads(body)
    except ValueError:
        return False
    if not isinstance(d, dict) or set(d) - set(_FIELDS) or not {"request_id", "circuit_id", "inputs", "deadline"} <= set(d):
        return False
    inputs, deadline = d["inputs"], d["deadline"]
    return (
        d.get("protocol_version", PROTOCOL_VERSION) == PROTOCOL_VERSION and d["circuit_id"] in (CIRCUIT_A, CIRCUIT_B)
        and isinstance(inputs, list) and len(inputs) == 2
        and all(isinstance(v, float) and 0.0 <= v <= 1.0 for v in inputs)
        and isinstance(deadline, float) and 0 < deadline - time.time() <= 60.0
        and isinstance(d["request_id"], str) and len(d["request_id"]) == 32
    )


def _check_inputs(circuit_id: str, inputs: tuple[float, ...]) -> None:
    if len(inputs) != 2:
        raise ValueError(f"takes 2 values, got {len(inputs)}")
    if min(inputs) < 0.0 or max(inputs) > 1.0:
        raise ValueError("inputs must lie in [0.0, 1.0]")


def test_no_generated_request_gets_a_5xx_or_a_200_it_should_not(cast):
    prover = AsyncFakeProver()
    app = build_miner_app(
        wallet=cast.miner, prove=prover, circuits={CIRCUIT_A, CIRCUIT_B}, metagraph=cast.metagraph,
        netuid=NETUID, min_stake=MIN_STAKE, max_queue=2, check_inputs=_check_inputs,
    )
    loop = asyncio.new_event_loop()
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://miner")
    # "codes" counts the refusals by code: shown when the depth assertion fails.
    seen: dict = {"count": 0, "ok": 0, "invalid_inputs": 0, "codes": {}}
    rss_kb: list[int] = []

    @FUZZ
    @given(call=_calls, body=_bodies, auth=_auth)
    def one(call: tuple[str, str], body: bytes, auth: str) -> None:
        method, route = call
        seen["count"] += 1
        if seen["count"] in (500, EXAMPLES):
            rss_kb.append(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
        headers = _headers(cast, auth, method, route, body)
        resp = loop.run_until_complete(client.request(method, route, content=body, headers=headers))
        assert resp.status_code < 500 or resp.status_code == 503, (resp.status_code, resp.content)
        if resp.status_code == 200:
            seen["ok"] += 1
            path = route.partition("?")[0]  # the query string is signed, not routed
            model = ProofResponse if path == ROUTE_PROVE else Capabilities
            decode(model, resp.content, max_bytes=1 << 22)
            assert auth == "signed" and (path != ROUTE_PROVE or _fits(body)), body
        else:
            error = decode(ErrorResponse, resp.content, max_bytes=4096)
            seen["invalid_inputs"] += error.code.value == "invalid_inputs"
            seen["codes"][error.code.value] = seen["codes"].get(error.code.value, 0) + 1
        if resp.status_code == 503:  # busy or unavailable: never for a sequential caller here
            raise AssertionError(resp.content)

    try:
        one()
    finally:
        loop.run_until_complete(client.aclose())
        loop.close()
    assert seen["count"] >= EXAMPLES
    # The fuzzer must reach deep: the prover (valid requests) and the input check, often.
    assert len(prover.calls) > EXAMPLES // 20 and seen["invalid_inputs"] > EXAMPLES // 20, (
        len(prover.calls), seen)
    # ru_maxrss is the peak: between the 500th and the last request it may not grow by more than
    # a few MB per thousand requests (the nonce store keeps only the freshness window).
    assert rss_kb[-1] - rss_kb[0] < 64 * 1024, rss_kb
