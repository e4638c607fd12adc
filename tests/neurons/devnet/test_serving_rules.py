"""The devnet's ``serve_axon`` refuses what subtensor refuses: the serving rate limit.

Reference: subtensor ``pallets/subtensor/src/subnets/serving.rs``: ``validate_serve_axon``
ensures ``axon_passes_rate_limit`` (``rate_limit == 0 || last_serve == 0 ||
block - last_serve >= rate_limit``) else ``ServingRateLimitExceeded``; the default
``ServingRateLimit`` is 50 (``runtime/src/lib.rs`` ``SubtensorInitialServingRateLimit``).
Calls go through the real SDK (``submit_call``, signed by the hotkey).
"""

from __future__ import annotations

import asyncio
import contextlib

import bittensor as bt

from neurons.devnet.cli import main
from neurons.devnet.runtime import SubnetParams
from neurons.devnet.store import Store
from tests.support.devnet import NETUID, StepClock, make_devnet, older_state_file


def _serve(port: int) -> bt.Call:
    return bt.calls.SubtensorModule.serve_axon(
        netuid=NETUID, version=1, ip=int.from_bytes(bytes([10, 0, 0, 7]), "big"), port=port,
        ip_type=4, protocol=4, placeholder1=0, placeholder2=0,
    )


def _miner(net):
    return bt.wallets.open_wallet("m1", path=str(net.wallets))


def test_the_default_serving_rate_limit_is_the_chains_50_blocks():
    assert SubnetParams().serving_rate_limit == 50


def test_a_second_axon_inside_the_serving_rate_limit_is_refused_and_writes_nothing(tmp_path):
    """First serve passes (no previous axon); 49 blocks later a new port is refused with
    ServingRateLimitExceeded and the state is unchanged; at 50 blocks it lands."""
    net = make_devnet(tmp_path, clock=StepClock(), tempo=1000, miners=["m1"])
    wallet = _miner(net)

    async def go():
        async with net.client() as client:
            first = await client.submit_call(_serve(9000), wallet, signer="hotkey")
            net.clock.advance(49)
            await client.block()  # runs any epoch due, so the dumps compare the call alone
            before = net.dump()
            early = await client.submit_call(_serve(9001), wallet, signer="hotkey")
            after = net.dump()
            net.clock.advance(1)
            later = await client.submit_call(_serve(9001), wallet, signer="hotkey")
            axon = await client.query(("SubtensorModule", "Axons"),
                                      [NETUID, wallet.hotkeypub.ss58_address])
            return first, early, before, after, later, axon

    first, early, before, after, later, axon = asyncio.run(go())
    assert first.success, first.message
    assert not early.success and early.error.name == "ServingRateLimitExceeded"
    assert before == after
    assert later.success, later.message
    assert axon["port"] == 9001


def test_a_serving_rate_limit_of_zero_lets_an_axon_be_served_every_block(tmp_path):
    net = make_devnet(tmp_path, clock=StepClock(), miners=["m1"], serving_rate_limit=0)
    wallet = _miner(net)

    async def go():
        async with net.client() as client:
            return [await client.submit_call(_serve(port), wallet, signer="hotkey")
                    for port in (9000, 9001)]

    assert all(result.success for result in asyncio.run(go()))


def test_create_subnet_flag_sets_the_serving_rate_limit_the_sdk_reads(tmp_path, capsys):
    """``--serving-rate-limit`` lands in the ServingRateLimit storage item (what the SDK's
    ``serving_rate_limit`` hyperparameter reads), and set-hyperparameter changes it."""
    state = tmp_path / "c.sqlite"
    assert main(["--state", str(state), "create-subnet", "--netuid", "2",
                 "--serving-rate-limit", "7"]) == 0

    async def read():
        async with bt.Client("devnet", substrate=_substrate(state)) as client:
            return await client.query(("SubtensorModule", "ServingRateLimit"), [2])

    assert asyncio.run(read()) == 7
    assert main(["--state", str(state), "set-hyperparameter", "--netuid", "2",
                 "--name", "serving_rate_limit", "--value", "0"]) == 0
    assert "serving_rate_limit on netuid 2: 7 -> 0" in capsys.readouterr().out
    assert asyncio.run(read()) == 0


def _substrate(state):
    from neurons.devnet.substrate import DevnetSubstrate

    return DevnetSubstrate(Store(state))


def test_a_state_file_from_before_the_serving_rate_limit_opens_with_the_chains_default(tmp_path):
    """An older file's subnets table lacks the column: opening it adds the column (ALTER TABLE)
    with 50 for existing subnets, keeps their rows, and new subnets store their own value."""
    path = tmp_path / "old.sqlite"
    older_state_file(path, subnets_before="serving_rate_limit")
    assert main(["--state", str(path), "create-subnet", "--netuid", "3",
                 "--serving-rate-limit", "9"]) == 0
    with contextlib.closing(Store(path)) as store, store.transaction() as conn:
        rows = conn.execute("SELECT netuid, tempo, serving_rate_limit FROM subnets ORDER BY netuid")
        assert rows.fetchall() == [(2, 4, 50), (3, 10, 9)]
