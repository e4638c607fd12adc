"""neurons.mining.lanes and the miner's lanes: a slow circuit holds only its own lane.

The mixed-circuit case runs the real miner app over a real ``ProverPool`` (spawned
worker processes, a ``TimedProver`` whose heavy circuit takes seconds) and the real
validator's ``challenge_miner`` through one ``MinerClient``: one validator, both circuits.
"""

from __future__ import annotations

import asyncio
import functools

import httpx
import numpy as np
import pytest

from neurons.chain import NeuronInfo
from neurons.mining.app import build_miner_app
from neurons.mining.lanes import LanePlan, plan_lanes
from neurons.shared.prover_pool import ProverPool
from neurons.validating.challenge import Outcome, challenge_miner
from neurons.validating.client import MinerClient
from neurons.validating.replay_guard import ReplayGuard
from tests.support.cast import MIN_STAKE, NETUID
from tests.support.chain import neuron, serving
from tests.support.network import RoutingTransport
from tests.support.provers import (
    CIRCUIT_A,
    CIRCUIT_B,
    AsyncFakeProver,
    FakeCircuit,
    FakeVerifier,
    TimedProver,
    fake_sample,
)
from tests.support.wallets import hotkey_of

AXON = ("10.0.0.2", 8091)
HEAVY_S = 3.0  # the heavy circuit's proving time: far longer than the light one's round trips
HEAVY = FakeCircuit(CIRCUIT_A, "heavy", timeout_s=HEAVY_S + 5.0)
LIGHT = FakeCircuit(CIRCUIT_B, "light", timeout_s=2.0)
C = "c" * 64


def test_enough_workers_give_every_circuit_a_lane_and_deal_the_extra_ones_in_id_order():
    assert plan_lanes([CIRCUIT_B, CIRCUIT_A, C], workers=4, max_queue=2) == (
        LanePlan((CIRCUIT_A,), workers=2, max_queue=2),
        LanePlan((CIRCUIT_B,), workers=1, max_queue=2),
        LanePlan((C,), workers=1, max_queue=2),
    )


def test_fewer_workers_than_circuits_share_lanes_round_robin():
    assert plan_lanes([C, CIRCUIT_B, CIRCUIT_A], workers=2, max_queue=0) == (
        LanePlan((CIRCUIT_A, C), workers=1, max_queue=0),
        LanePlan((CIRCUIT_B,), workers=1, max_queue=0),
    )
    assert plan_lanes([CIRCUIT_A, CIRCUIT_B], workers=1, max_queue=4) == (
        LanePlan((CIRCUIT_A, CIRCUIT_B), workers=1, max_queue=4),
    )


def test_no_circuits_have_no_lanes_and_nonsense_sizes_are_refused():
    assert plan_lanes([], workers=3, max_queue=1) == ()
    with pytest.raises(ValueError):
        plan_lanes([CIRCUIT_A], workers=0, max_queue=1)
    with pytest.raises(ValueError):
        plan_lanes([CIRCUIT_A], workers=1, max_queue=-1)


@pytest.mark.parametrize(
    "lanes",
    [
        (LanePlan((CIRCUIT_A,), workers=1, max_queue=1),),  # B in no lane
        (LanePlan((CIRCUIT_A, CIRCUIT_B), 1, 1), LanePlan((CIRCUIT_B,), 1, 1)),  # B twice
        (LanePlan((CIRCUIT_A, CIRCUIT_B, C), workers=1, max_queue=1),),  # C is not served
        (LanePlan((CIRCUIT_A, CIRCUIT_B), workers=0, max_queue=1),),
    ],
)
def test_the_app_refuses_lanes_that_do_not_split_its_circuits(cast, lanes):
    with pytest.raises(ValueError, match="lane"):
        build_miner_app(
            wallet=cast.miner, prove=AsyncFakeProver(), circuits={CIRCUIT_A, CIRCUIT_B},
            metagraph=cast.metagraph, netuid=NETUID, min_stake=MIN_STAKE, max_queue=1, lanes=lanes,
        )


def _miner(cast) -> NeuronInfo:
    return serving(neuron(0, hotkey_of(cast.miner)), AXON)


@pytest.mark.anyio
async def test_a_light_circuit_is_never_refused_while_a_heavy_one_proves(cast, tmp_path):
    """Tried: one validator challenges a heavy circuit (a 3 s proof) and, while that proof
    runs in a worker, the light circuit three times, for two rounds; the miner has two
    workers for its two circuits (so a lane each). Must hold: every light challenge is
    accepted (never 503 busy or 408) before the heavy proof ends, and the heavy one too."""
    pool = ProverPool(functools.partial(TimedProver, {CIRCUIT_A: HEAVY_S}, str(tmp_path)), workers=2)
    await pool.warm_up()
    marker = tmp_path / CIRCUIT_A[:8]
    try:
        app = build_miner_app(
            wallet=cast.miner, prove=pool.prove, circuits={CIRCUIT_A, CIRCUIT_B}, metagraph=cast.metagraph,
            netuid=NETUID, min_stake=MIN_STAKE, max_queue=2, max_concurrent=2,
        )
        transport = RoutingTransport({AXON: httpx.ASGITransport(app)})
        guard, rng, verify = ReplayGuard(), np.random.default_rng(7), FakeVerifier()
        async with MinerClient(cast.validator, transport=transport, timeout=30) as client:

            def challenge(circuit: FakeCircuit):
                return challenge_miner(
                    neuron=_miner(cast), circuit=circuit, client=client, verify=verify,
                    guard=guard, sample=fake_sample, rng=rng,
                )

            for _ in range(2):
                marker.unlink(missing_ok=True)
                heavy = asyncio.ensure_future(challenge(HEAVY))
                async with asyncio.timeout(20):
                    while not marker.exists():  # the heavy proof is under way in a worker
                        await asyncio.sleep(0.01)
                lights = [await challenge(LIGHT) for _ in range(3)]
                still_proving = not heavy.done()
                record = await heavy
                assert [(r.outcome, r.reason) for r in lights] == [(Outcome.ACCEPTED, None)] * 3
                assert still_proving, "the light challenges must have been answered during the heavy proof"
                assert record.outcome is Outcome.ACCEPTED, record.reason
    finally:
        await pool.aclose()
