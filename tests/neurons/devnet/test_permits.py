"""Validator permits by stake rank at each epoch, read through the real SDK's metagraph.

subtensor ``epoch/run_epoch.rs::epoch_mechanism``: stake under ``StakeThreshold`` (chain-wide,
default 0) counts as zero, then ``new_validator_permits = is_topk_nonzero(stake,
MaxAllowedValidators)``. The devnet admin's ``permit`` is an override that wins over that rank
until cleared.
"""

from __future__ import annotations

import asyncio
import contextlib

import bittensor as bt

from neurons.devnet import runtime
from tests.support.devnet import Devnet, StepClock, make_devnet, stake


def _net(tmp_path, names, **params) -> tuple[Devnet, dict[str, bt.Wallet]]:
    """The named wallets registered (uids in order), no stake, no admin permit; weights in
    plaintext (commit-reveal off), so a write the permit refuses is refused at once."""
    params.setdefault("commit_reveal_weights_enabled", False)
    net = make_devnet(tmp_path, clock=StepClock(), tempo=4, weights_rate_limit=3, miners=names,
                      **params)
    return net, {n: bt.wallets.open_wallet(n, path=str(net.wallets)) for n in names}


def _stake(net: Devnet, wallet: bt.Wallet, tao: float) -> None:
    async def go():
        async with net.client() as client:
            result = await stake(client, wallet, tao)
            assert result.success, result.message

    asyncio.run(go())


def _next_epoch(net: Devnet) -> None:
    """Move the step clock onto the next epoch block."""
    with contextlib.closing(net.open()) as store, store.read() as (conn, block):
        last, tempo = conn.execute(
            "SELECT last_epoch_block, tempo FROM subnets WHERE netuid = ?", (net.netuid,)
        ).fetchone()
    assert net.clock is not None
    net.clock.advance(last + tempo - block)


def _permits(net: Devnet) -> list[bool]:
    async def go():
        async with net.client() as client:
            return [n.validator_permit for n in (await client.subnets.metagraph(2)).neurons]

    return asyncio.run(go())


def _admin(net: Devnet, write) -> None:
    with contextlib.closing(net.open()) as store, store.transaction() as conn:
        write(conn)


def test_a_staked_neuron_gains_a_permit_at_the_next_epoch_without_the_admin(tmp_path):
    net, w = _net(tmp_path, ("a", "b"))
    _next_epoch(net)
    _stake(net, w["a"], 100)
    assert _permits(net) == [False, False]  # permits change only at the epoch

    async def refused():
        async with net.client() as client:
            return await client.execute(bt.SetWeights(netuid=2, weights={1: 1.0}), w["a"])

    result = asyncio.run(refused())
    assert not result.success and result.error.name == "NeuronNoValidatorPermit"
    _next_epoch(net)
    assert _permits(net) == [True, False]  # b has no stake: is_topk_nonzero leaves it out

    async def accepted():
        async with net.client() as client:
            return await client.execute(bt.SetWeights(netuid=2, weights={1: 1.0}), w["a"])

    result = asyncio.run(accepted())
    assert result.success, result.message


def test_a_validator_pushed_out_of_the_top_k_by_stake_loses_its_permit(tmp_path):
    net, w = _net(tmp_path, ("a", "b", "c"), max_allowed_validators=2)
    for name, tao in (("a", 300), ("b", 200), ("c", 100)):
        _stake(net, w[name], tao)
    _next_epoch(net)
    assert _permits(net) == [True, True, False]
    _stake(net, w["c"], 300)  # c: 400, now above b's 200
    _next_epoch(net)
    assert _permits(net) == [True, False, True]


def test_stake_under_the_chain_wide_threshold_earns_no_permit(tmp_path):
    net, w = _net(tmp_path, ("a", "b"))
    _admin(net, lambda conn: runtime.set_stake_threshold(conn, 150 * 10**9))
    _stake(net, w["a"], 300)
    _stake(net, w["b"], 100)
    _next_epoch(net)
    assert _permits(net) == [True, False]

    async def threshold():
        async with net.client() as client:
            return await client.query(("SubtensorModule", "StakeThreshold"), [])

    assert asyncio.run(threshold()) == 150 * 10**9


def test_the_admins_override_wins_over_the_stake_rank_until_cleared(tmp_path):
    net, w = _net(tmp_path, ("a", "b"))
    _stake(net, w["a"], 300)  # b has none
    hotkeys = {n: w[n].hotkeypub.ss58_address for n in w}
    _admin(net, lambda conn: runtime.set_permit(conn, 2, hotkeys["a"], False))
    _admin(net, lambda conn: runtime.set_permit(conn, 2, hotkeys["b"], True))
    assert _permits(net) == [False, True]  # at once
    for _ in range(2):
        _next_epoch(net)
        assert _permits(net) == [False, True]  # and at every epoch after
    for name in ("a", "b"):
        _admin(net, lambda conn, name=name: runtime.clear_permit_override(conn, 2, hotkeys[name]))
    assert _permits(net) == [False, True]  # until the next epoch
    _next_epoch(net)
    assert _permits(net) == [True, False]  # the stake rank again
