"""The API beside the real round loop: client requests go first, and never count towards scores.

One validator (``Validator`` on a ``FakeChain``) and its API share the miner client,
capabilities and ``MinerSlots``, as ``neurons.validating.service`` wires them; the miner is
the real miner app (``tests.support.api``) proving with a gated ``AsyncFakeProver``.
"""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from execution_layer.types import ProvingFailed
from neurons.shared.version import VERSION_KEY
from neurons.validating.dispatch import Dispatcher
from neurons.validating.loop import Validator
from neurons.validating.replay_guard import ReplayGuard
from neurons.validating.state import StateStore, ValidatorState
from tests.support.api import API_KEY, CIRCUIT, api_rig, infer_body
from tests.support.cast import MIN_STAKE, NETUID
from tests.support.chain import FakeChain
from tests.support.provers import AsyncFakeProver, fake_sample

pytestmark = pytest.mark.anyio

HEADERS = {"Authorization": f"Bearer {API_KEY}"}


async def loop_and_api(cast, tmp_path, prover: AsyncFakeProver):
    """The rig's API, its dispatcher reading a real ``Validator`` that shares its slots."""
    rig = await api_rig(cast, miners=1, provers=[prover], circuits=(CIRCUIT,))
    await rig.settle()
    view = rig.directory.metagraph
    chain = FakeChain(NETUID, {n.uid: n for n in view.neurons}, rate_limit=0)
    store = StateStore(tmp_path / "state.json")
    store.save(ValidatorState(averages={1: 0.5}, hotkeys={1: rig.miners[0].hotkey}))
    validator = Validator(
        wallet=cast.validator, chain=chain, netuid=NETUID, circuits=[CIRCUIT], client=rig.miner_client,
        verify=rig.verify, store=store, guard=ReplayGuard(), version_key=VERSION_KEY, sample=fake_sample,
        rng=np.random.default_rng(3), allow_private_axons=True, min_stake=MIN_STAKE,
        capabilities=rig.capabilities, slots=rig.dispatcher.slots,
    )
    d = rig.dispatcher
    rig.dispatcher = Dispatcher(
        hotkey=d.hotkey, directory=validator, capabilities=d.capabilities, client=d.client, verify=d.verify,
        slots=d.slots, signer=d._signer, min_stake=MIN_STAKE, allow_private_axons=True, metrics=validator.metrics,
    )
    from neurons.validating.api import build_api_app

    rig.app = build_api_app(circuits=[CIRCUIT], answer=rig.dispatcher.answer, auth=_auth(rig), limits=_limits())
    return rig, validator, store


def _auth(rig):
    from neurons.validating.api_auth import ApiAuthenticator
    from neurons.validating.api_keys import ApiKeys, key_digest

    return ApiAuthenticator(hotkey=rig.dispatcher.hotkey, keys=ApiKeys({key_digest(API_KEY): "c"}))


def _limits():
    from neurons.validating.api_limits import CallerLimits, LimitsConfig

    return CallerLimits(LimitsConfig(per_minute=600, burst=100, max_concurrent=100))


async def test_a_challenge_waits_while_a_client_request_holds_the_miners_lane(cast, tmp_path):
    """Without the wait the challenge would reach the miner while the client's proof runs and be
    refused 503 busy (one request per validator per lane), and the miner would be charged."""
    prover = AsyncFakeProver()
    rig, validator, _ = await loop_and_api(cast, tmp_path, prover)
    await validator.run_round()  # the round that gives the dispatcher its metagraph
    prover.calls.clear()
    gate = prover.gate = asyncio.Event()  # from now on a proof runs until the test opens it
    async with rig.client() as http:
        client = asyncio.ensure_future(http.post("/v1/infer", content=infer_body(), headers=HEADERS))
        while not prover.calls:
            assert not client.done(), client.result().text
            await asyncio.sleep(0.005)
        round_ = asyncio.ensure_future(validator.run_round())
        await asyncio.sleep(0.3)
        assert len(prover.calls) == 1  # the challenge has not been sent: it waits for the lane
        gate.set()
        response, report = await client, await round_
    assert response.status_code == 200
    (record,) = report.records
    assert record.verified, record.reason
    assert len(prover.calls) == 2
    await rig.aclose()


async def test_client_answers_and_failures_leave_scores_state_and_reports_untouched(cast, tmp_path):
    prover = AsyncFakeProver()
    rig, validator, store = await loop_and_api(cast, tmp_path, prover)
    await validator.run_round()
    before_state, before_file = validator.state, store.path.read_bytes()
    checked = validator.metrics.registry.get_sample_value("poi_verifications_total", {"outcome": "accepted"})
    async with rig.client() as http:
        ok = await http.post("/v1/infer", content=infer_body(), headers=HEADERS)
        prover.error = ProvingFailed("out of memory")
        failed = await http.post("/v1/infer", content=infer_body(inputs=[0.3] * CIRCUIT.size), headers=HEADERS)
    assert ok.status_code == 200 and failed.status_code == 503
    assert validator.state == before_state and store.path.read_bytes() == before_file
    assert validator.metrics.registry.get_sample_value("poi_verifications_total", {"outcome": "accepted"}) == checked
    sample = validator.metrics.registry.get_sample_value
    assert sample("poi_api_attempts_total", {"outcome": "accepted"}) == 1.0
    assert sample("poi_api_attempts_total", {"outcome": "http_error"}) == 1.0
    await rig.aclose()
