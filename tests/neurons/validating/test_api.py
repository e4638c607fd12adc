"""neurons.validating.api over neurons.validating.dispatch: every answer and every refusal, in process.

The app, dispatcher, miner client, capabilities and miner apps are real
(``tests.support.api``); the miners prove with ``AsyncFakeProver`` and the validator
verifies with ``FakeVerifier`` (which accepts exactly the fake proof of the inputs sent).
"""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from execution_layer.types import ProvingFailed
from neurons.validating.challenge import challenge_miner
from neurons.validating.replay_guard import ReplayGuard
from protocol import ROUTE_PROVE, ProofRequest, decode_receipt
from tests.support.api import API_KEY, CIRCUIT, OTHER, api_rig, infer_body, signed
from tests.support.provers import AsyncFakeProver, fake_result, fake_sample
from tests.support.wallets import hotkey_of

pytestmark = pytest.mark.anyio


def key_headers(key: str = API_KEY) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def post(rig, body: bytes, headers: dict[str, str]):
    async with rig.client() as http:
        return await http.post("/v1/infer", content=body, headers=headers)


async def ready(cast, **kwargs):
    rig = await api_rig(cast, **kwargs)
    await rig.settle()
    return rig


def validator_hotkey(cast) -> str:
    return hotkey_of(cast.validator)


async def test_a_signed_allowlisted_client_gets_the_verified_outputs_the_miners_hotkey_and_a_receipt(cast):
    rig = await ready(cast)
    body = infer_body()
    response = await post(rig, body, signed(cast.stranger, body, validator_hotkey(cast)))
    assert response.status_code == 200, response.text
    answer = response.json()
    inputs = tuple(json.loads(body)["inputs"])
    assert answer["outputs"] == list(fake_result(CIRCUIT.id, inputs).outputs)
    assert answer["miner_hotkey"] in {m.hotkey for m in rig.miners} and answer["attempts"] == 1
    receipt = decode_receipt(answer["receipt"].encode())  # canonical bytes, as the file is written
    assert receipt.request.inputs == inputs and receipt.circuit_id == CIRCUIT.id
    assert receipt.miner.hotkey == answer["miner_hotkey"]
    assert receipt.validator.hotkey == validator_hotkey(cast)
    assert receipt.request.request_id == answer["request_id"]
    await rig.aclose()


async def test_an_api_key_holder_is_answered(cast):
    rig = await ready(cast)
    response = await post(rig, infer_body(), key_headers())
    assert response.status_code == 200, response.text
    await rig.aclose()


async def test_a_request_without_credentials_is_401_naming_both_ways_in(cast):
    rig = await ready(cast)
    response = await post(rig, infer_body(), {})
    assert response.status_code == 401
    error = response.json()
    assert error["code"] == "unauthenticated"
    assert "Bearer" in error["message"] and "bittensor.http_auth" in error["message"]
    assert validator_hotkey(cast) in error["message"]
    assert rig.network.seen_on(ROUTE_PROVE) == []  # no miner was asked
    await rig.aclose()


async def test_an_unknown_api_key_is_401(cast):
    rig = await ready(cast)
    response = await post(rig, infer_body(), key_headers("poi_not-a-key-of-this-validator"))
    assert response.status_code == 401 and "unknown API key" in response.json()["message"]
    await rig.aclose()


async def test_a_signature_over_another_body_is_401(cast):
    rig = await ready(cast)
    headers = signed(cast.stranger, infer_body(), validator_hotkey(cast))
    response = await post(rig, infer_body(inputs=[0.5] * CIRCUIT.size), headers)
    assert response.status_code == 401 and response.json()["code"] == "unauthenticated"
    await rig.aclose()


async def test_a_signature_for_another_receiver_is_401(cast):
    rig = await ready(cast)
    body = infer_body()
    response = await post(rig, body, signed(cast.stranger, body, hotkey_of(cast.miner)))
    assert response.status_code == 401
    await rig.aclose()


async def test_a_replayed_signed_request_is_401(cast):
    rig = await ready(cast)
    body = infer_body()
    headers = signed(cast.stranger, body, validator_hotkey(cast))
    assert (await post(rig, body, headers)).status_code == 200
    again = await post(rig, body, headers)
    assert again.status_code == 401 and "Replay" in again.json()["message"]
    await rig.aclose()


async def test_an_authentic_hotkey_off_the_allowlist_is_403(cast):
    rig = await ready(cast)
    body = infer_body()
    response = await post(rig, body, signed(cast.poor, body, validator_hotkey(cast)))
    assert response.status_code == 403
    assert response.json()["code"] == "forbidden" and hotkey_of(cast.poor) in response.json()["message"]
    assert rig.network.seen_on(ROUTE_PROVE) == []
    await rig.aclose()


async def test_a_circuit_this_validator_did_not_load_is_404_naming_the_loaded_ones(cast):
    rig = await ready(cast)
    response = await post(rig, json.dumps({"circuit_id": "c" * 64, "inputs": [0.0]}).encode(), key_headers())
    assert response.status_code == 404
    error = response.json()
    assert error["code"] == "unknown_circuit"
    assert CIRCUIT.id in error["message"] and OTHER.name in error["message"]
    await rig.aclose()


HUGE = b"[" + b"0.0," * 70_000 + b"0.0]"


async def test_a_body_declared_over_the_limit_is_413_unread(cast):
    rig = await ready(cast)
    response = await post(rig, HUGE, key_headers())
    assert response.status_code == 413 and response.json()["code"] == "too_large"
    assert response.json()["message"] == f"body is {len(HUGE)} bytes, at most 262144 allowed"
    await rig.aclose()


async def test_a_streamed_body_over_the_limit_is_413_once_it_passes_the_limit(cast):
    async def chunks():
        for start in range(0, len(HUGE), 65536):
            yield HUGE[start:start + 65536]

    rig = await ready(cast)
    response = await post(rig, chunks(), key_headers())  # no Content-Length: chunked
    assert response.status_code == 413 and response.json()["message"] == "body exceeds 262144 bytes"
    await rig.aclose()


@pytest.mark.parametrize("inputs, reason", [([0.1, 0.2], "takes 4 values, got 2"), ([0.0, 0.0, 0.0, 7.0], "[-1.0, 1.0]")])
async def test_inputs_that_do_not_fit_the_circuit_are_422_with_the_reason(cast, inputs, reason):
    rig = await ready(cast)
    response = await post(rig, infer_body(inputs=inputs), key_headers())
    assert response.status_code == 422
    assert response.json()["code"] == "invalid_inputs" and reason in response.json()["message"]
    assert rig.network.seen_on(ROUTE_PROVE) == []
    await rig.aclose()


async def test_a_body_that_is_not_an_infer_request_is_422(cast):
    rig = await ready(cast)
    response = await post(rig, b'{"circuit": "x"}', key_headers())
    assert response.status_code == 422 and response.json()["code"] == "invalid_request"
    await rig.aclose()


async def test_a_caller_over_its_rate_is_429_with_retry_after(cast):
    from neurons.validating.api_limits import LimitsConfig

    rig = await ready(cast, limits=LimitsConfig(per_minute=1, burst=2, max_concurrent=10))
    statuses = [(await post(rig, infer_body(), key_headers())) for _ in range(3)]
    assert [r.status_code for r in statuses] == [200, 200, 429]
    assert statuses[2].json()["code"] == "rate_limited"
    assert int(statuses[2].headers["Retry-After"]) >= 1
    await rig.aclose()


async def test_a_caller_over_its_concurrency_is_429_while_its_first_request_runs(cast):
    from neurons.validating.api_limits import LimitsConfig

    gate = asyncio.Event()
    provers = [AsyncFakeProver(gate=gate), AsyncFakeProver(gate=gate)]
    rig = await ready(cast, provers=provers, limits=LimitsConfig(per_minute=600, burst=10, max_concurrent=1))
    async with rig.client() as http:
        first = asyncio.ensure_future(http.post("/v1/infer", content=infer_body(), headers=key_headers()))
        await asyncio.wait_for(provers[0].started.wait() if provers[0].calls else _any_started(provers), 5)
        second = await http.post("/v1/infer", content=infer_body(), headers=key_headers())
        gate.set()
        assert (await first).status_code == 200
    assert second.status_code == 429 and second.headers["Retry-After"] == "1"
    assert "at once" in second.json()["message"]
    await rig.aclose()


async def _any_started(provers) -> None:
    while not any(p.calls for p in provers):
        await asyncio.sleep(0.005)


async def test_the_second_miner_is_tried_after_the_first_fails(cast):
    provers = [AsyncFakeProver(error=ProvingFailed("out of memory")), AsyncFakeProver()]
    rig = await ready(cast, provers=provers, scores={1: 0.9, 2: 0.1})  # uid 1 is tried first
    response = await post(rig, infer_body(), key_headers())
    assert response.status_code == 200, response.text
    assert response.json()["miner_hotkey"] == rig.miners[1].hotkey and response.json()["attempts"] == 2
    assert len(provers[0].calls) == 1 and len(provers[1].calls) == 1
    await rig.aclose()


async def test_the_best_scored_miner_is_asked_first(cast):
    rig = await ready(cast, scores={1: 0.2, 2: 0.8})
    response = await post(rig, infer_body(), key_headers())
    assert response.json()["miner_hotkey"] == rig.miners[1].hotkey
    assert [len(p.calls) for p in rig.provers] == [0, 1]
    await rig.aclose()


async def test_when_every_miner_fails_the_503_lists_each_attempt_and_why(cast):
    provers = [AsyncFakeProver(error=ProvingFailed("no memory")), AsyncFakeProver(error=ProvingFailed("no disk"))]
    rig = await ready(cast, provers=provers)
    response = await post(rig, infer_body(), key_headers())
    assert response.status_code == 503
    error = response.json()
    assert error["code"] == "no_miner" and "2 miner(s) tried" in error["message"]
    assert {a["hotkey"] for a in error["attempts"]} == {m.hotkey for m in rig.miners}
    assert all(a["outcome"] == "http_error" and "500" in a["reason"] for a in error["attempts"])
    await rig.aclose()


async def test_the_clients_deadline_is_honoured_across_attempts(cast):
    gate = asyncio.Event()  # never set: the miners never answer
    rig = await ready(cast, provers=[AsyncFakeProver(gate=gate), AsyncFakeProver(gate=gate)])
    started = time.monotonic()
    response = await post(rig, infer_body(deadline_s=0.4), key_headers())
    took = time.monotonic() - started
    assert response.status_code == 503 and response.json()["code"] == "no_miner"
    assert 0.35 < took < 1.2, took  # not the circuit's 1 s timeout and its grace (1.25 s), nor two of them
    assert [a["outcome"] for a in response.json()["attempts"]] == ["no_response"]
    await rig.aclose()


async def test_a_miner_that_does_not_list_the_circuit_is_never_asked(cast):
    rig = await ready(cast, served=[frozenset({OTHER.id}), frozenset({CIRCUIT.id, OTHER.id})], scores={1: 1.0})
    response = await post(rig, infer_body(), key_headers())
    assert response.status_code == 200 and response.json()["miner_hotkey"] == rig.miners[1].hotkey
    assert rig.miners[0].axon not in rig.network.seen_on(ROUTE_PROVE)
    await rig.aclose()


async def test_miners_whose_capabilities_are_unknown_are_not_asked_and_the_503_says_so(cast):
    rig = await api_rig(cast)  # capabilities not read yet
    response = await post(rig, infer_body(), key_headers())
    assert response.status_code == 503 and "no miner is known to serve fake-a" in response.json()["message"]
    assert rig.network.seen_on(ROUTE_PROVE) == []
    await rig.aclose()


async def test_before_the_first_metagraph_the_api_is_503_unavailable(cast):
    rig = await api_rig(cast, metagraph=False)
    response = await post(rig, infer_body(), key_headers())
    assert response.status_code == 503 and response.json()["code"] == "unavailable"
    await rig.aclose()


async def test_a_validator_without_a_permit_is_503_unavailable_and_asks_no_miner(cast):
    from dataclasses import replace

    rig = await ready(cast)
    view = rig.directory.metagraph
    rig.directory.metagraph = replace(view, neurons=(replace(view.neurons[0], validator_permit=False), *view.neurons[1:]))
    response = await post(rig, infer_body(), key_headers())
    assert response.status_code == 503 and response.json()["code"] == "unavailable"
    assert "permit" in response.json()["message"] and rig.network.seen_on(ROUTE_PROVE) == []
    await rig.aclose()


async def test_a_miner_cannot_tell_a_client_request_from_a_challenge(cast):
    """Same route, same method, same body fields, same deadline rule (the circuit's timeout from
    the moment it is sent): only the values differ."""
    rig = await ready(cast, miners=1)
    seen: list[tuple[str, str, ProofRequest, float]] = []
    inner = rig.network.routes[rig.miners[0].axon]

    class Recording(type(inner)):  # type: ignore[misc]
        async def handle_async_request(self, request):
            if request.url.path == ROUTE_PROVE:
                seen.append((request.method, request.url.path, ProofRequest.model_validate_json(await request.aread()),
                             time.time()))
            return await inner.handle_async_request(request)

    rig.network.routes[rig.miners[0].axon] = Recording(inner.app)
    assert (await post(rig, infer_body(), key_headers())).status_code == 200
    import numpy as np

    record = await challenge_miner(
        neuron=rig.miners[0], circuit=CIRCUIT, client=rig.miner_client, verify=rig.verify, guard=ReplayGuard(),
        sample=fake_sample, rng=np.random.default_rng(1),
    )
    assert record.verified
    (api_method, api_path, api_req, api_at), (ch_method, ch_path, ch_req, ch_at) = seen
    assert (api_method, api_path) == (ch_method, ch_path) == ("POST", ROUTE_PROVE)
    assert set(api_req.model_dump(exclude_unset=True)) == set(ch_req.model_dump(exclude_unset=True))
    assert api_req.deadline - api_at == pytest.approx(CIRCUIT.timeout_s, abs=0.1)
    assert ch_req.deadline - ch_at == pytest.approx(CIRCUIT.timeout_s, abs=0.1)
    assert len(api_req.request_id) == len(ch_req.request_id)
    await rig.aclose()


async def test_an_unknown_route_is_404_and_get_is_405(cast):
    rig = await ready(cast)
    async with rig.client() as http:
        missing = await http.post("/v1/prove", content=b"{}", headers=key_headers())
        wrong = await http.get("/v1/infer", headers=key_headers())
    assert missing.status_code == 404 and missing.json()["code"] == "not_found"
    assert wrong.status_code == 405 and wrong.json()["code"] == "method_not_allowed"
    await rig.aclose()


async def test_with_a_receipts_folder_the_answers_receipt_is_also_kept_there(cast, tmp_path):
    from tests.support.receipts import receipt_folder

    rig = await ready(cast)
    rig.dispatcher.receipts = receipt_folder(cast, tmp_path / "receipts")
    response = await post(rig, infer_body(), key_headers())
    assert response.status_code == 200
    (path,) = (tmp_path / "receipts").glob("*.json")
    assert path.read_text() == response.json()["receipt"]
    await rig.aclose()
