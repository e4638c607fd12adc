"""The validator's API under load (issue 12, item 6): 200 concurrent client requests, 3 miners.

The miners are real miner apps proving with fast stand-in provers (a few milliseconds per
proof: what is tested is the API's bookkeeping, not ezkl). Must hold: every request gets
exactly one answer; no 5xx but 503 ``no_miner`` (every miner busy until the deadline); no
answer is given twice (request ids and receipts are unique, and proofs made equal answers
plus failed attempts); no miner ever has more of the validator's requests in flight than
its lane takes (so no miner ever answered ``busy``).
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass

import pytest

from protocol import decode_receipt
from tests.support.api import API_KEY, api_rig
from tests.support.provers import CIRCUIT_A, AsyncFakeProver, FakeCircuit

pytestmark = pytest.mark.anyio

REQUESTS = 200
# A generous timeout: 200 requests in one event loop on a loaded 2-core machine can hold a
# 5 ms proof's answer for a second, and a miner that abandons a proof at its deadline then
# refuses that circuit as too slow (its estimate): that would test the machine's load.
CIRCUIT = FakeCircuit(CIRCUIT_A, "fake-a", timeout_s=10.0)
HEADERS = {"Authorization": f"Bearer {API_KEY}"}


def bodies(deadline_s: float) -> list[bytes]:
    """REQUESTS distinct requests (the inputs tell them apart)."""
    return [
        json.dumps({"circuit_id": CIRCUIT.id, "inputs": [round((i % 97) / 100, 2), 0.5, -0.5, (i // 97) / 10],
                    "deadline_s": deadline_s}).encode()
        for i in range(REQUESTS)
    ]


async def fire(rig, sent: list[bytes]) -> list:
    async with rig.client() as http:
        return await asyncio.gather(*(http.post("/v1/infer", content=body, headers=HEADERS) for body in sent))


def check_each_answer_is_its_own(sent: list[bytes], responses: list) -> list[dict]:
    """One response per request, no 5xx but 503 no_miner, each 200 answering its own inputs
    (the signed receipt holds them) under a request id no other answer has; the 200s' JSON."""
    assert len(responses) == len(sent)
    statuses = [r.status_code for r in responses]
    assert set(statuses) <= {200, 503}, sorted(set(statuses))
    assert all(r.json()["code"] == "no_miner" for r in responses if r.status_code == 503)
    for body, response in zip(sent, responses):
        if response.status_code == 200:
            receipt = decode_receipt(response.json()["receipt"].encode())
            assert list(receipt.request.inputs) == json.loads(body)["inputs"]
    answered = [r.json() for r in responses if r.status_code == 200]
    assert len({a["request_id"] for a in answered}) == len(answered)
    return answered


@dataclass
class CountingProver(AsyncFakeProver):
    """An ``AsyncFakeProver`` that records how many of its proofs run at once."""

    running: int = 0
    peak: int = 0

    async def __call__(self, circuit_id, inputs):
        self.running += 1
        self.peak = max(self.peak, self.running)
        try:
            return await super().__call__(circuit_id, inputs)
        finally:
            self.running -= 1


async def test_200_concurrent_client_requests_are_each_answered_once_with_no_5xx_but_503(cast):
    provers = [CountingProver(delay=0.005) for _ in range(3)]
    rig = await api_rig(cast, miners=3, provers=provers, circuits=(CIRCUIT,))
    await rig.settle()
    sent = bodies(deadline_s=30.0)
    answered = check_each_answer_is_its_own(sent, await fire(rig, sent))
    assert len(answered) == REQUESTS, f"{REQUESTS - len(answered)} answered 503 with a 30 s deadline"
    # Every proof made went to exactly one answer: none lost, none made twice.
    assert sum(len(p.calls) for p in provers) == sum(a["attempts"] for a in answered) == REQUESTS
    assert all(p.peak <= 1 for p in provers)  # one worker per miner lane: never more in flight
    assert all(p.calls for p in provers)  # the load was spread
    await rig.aclose()


async def test_when_every_miner_is_busy_past_the_deadline_the_rest_are_503_and_none_is_lost(cast):
    """Three miners at 50 ms a proof cannot answer 200 requests within 0.5 s: those that find no
    free miner before their deadline are 503 no_miner; every other is answered, once."""
    provers = [CountingProver(delay=0.05) for _ in range(3)]
    rig = await api_rig(cast, miners=3, provers=provers, circuits=(CIRCUIT,))
    await rig.settle()
    sent = bodies(deadline_s=0.5)
    responses = await fire(rig, sent)
    answered = check_each_answer_is_its_own(sent, responses)
    assert 0 < len(answered) < REQUESTS
    assert sum(len(p.calls) for p in provers) >= len(answered)
    assert all(p.peak <= 1 for p in provers)
    await rig.aclose()
