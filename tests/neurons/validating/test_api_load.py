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
from tests.support.api import API_KEY, CIRCUIT, api_rig
from tests.support.provers import AsyncFakeProver

pytestmark = pytest.mark.anyio

REQUESTS = 200


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
    rig = await api_rig(cast, miners=3, provers=provers)
    await rig.settle()
    bodies = [
        json.dumps({"circuit_id": CIRCUIT.id, "inputs": [round((i % 97) / 100, 2), 0.5, -0.5, (i % 7) / 10],
                    "deadline_s": 20.0}).encode()
        for i in range(REQUESTS)
    ]
    async with rig.client() as http:
        responses = await asyncio.gather(*(
            http.post("/v1/infer", content=body, headers={"Authorization": f"Bearer {API_KEY}"}) for body in bodies
        ))
    assert len(responses) == REQUESTS
    statuses = [r.status_code for r in responses]
    assert set(statuses) <= {200, 503}, sorted(set(statuses))
    assert all(r.json()["code"] == "no_miner" for r in responses if r.status_code == 503)
    answered = [r.json() for r in responses if r.status_code == 200]
    # Each answer answers its own request: the receipt holds exactly the inputs sent.
    for body, response in zip(bodies, responses):
        if response.status_code == 200:
            receipt = decode_receipt(response.json()["receipt"].encode())
            assert list(receipt.request.inputs) == json.loads(body)["inputs"]
    assert len({a["request_id"] for a in answered}) == len(answered)
    attempts = sum(a["attempts"] for a in answered) + sum(
        len(r.json()["attempts"]) for r in responses if r.status_code == 503
    )
    assert sum(len(p.calls) for p in provers) == attempts  # every proof made went to one answer or one failure
    assert all(p.peak <= 1 for p in provers)  # one worker per miner lane: never more in flight
    assert len(answered) == REQUESTS, f"{REQUESTS - len(answered)} answered 503 with a 20 s deadline"
    await rig.aclose()
