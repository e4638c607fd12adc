"""Commit-reveal on the devnet, through the real SDK: ``bt.SetWeights`` via ``neurons.chain`` on a
stepped clock commits (the SDK's real timelock encryption runs), and the devnet reveals at the
reveal epoch as subtensor does.

Reference: subtensor ``subnets/weights.rs::internal_commit_timelocked_weights`` (the commit's
checks, ``LastUpdate``, the rate limit), ``coinbase/reveal_commits.rs::
reveal_crv3_commits_for_subnet`` (reveal epoch, ``do_set_mechanism_weights``, failures dropped),
``coinbase/block_step.rs::block_step`` (reveal before the epoch), ``macros/dispatches.rs``
(plain ``set_weights`` refused with ``CommitRevealEnabled``).

Every test here starts right after an epoch block ``start`` (``advance_past_registration``);
tempo 4, reveal period 1 unless said: a commit at ``start`` is revealed at ``start + 4``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from pathlib import Path
from typing import Any

import bittensor as bt
import bittensor_core
import pytest

from neurons.chain import connect
from neurons.devnet import admin, runtime, timelock
from neurons.devnet.cli import main as cli_main
from neurons.devnet.store import Store
from neurons.devnet.substrate import DevnetSubstrate
from tests.support.devnet import Devnet, StepClock, make_devnet, older_state_file

NETUID = 2
TEMPO = 4


def _net(tmp_path, **params: Any) -> tuple[Devnet, bt.Wallet, int]:
    """validator uid 0 (staked, permitted), miners uids 1 and 2; returns (net, wallet, start)."""
    params = {"tempo": TEMPO, "weights_rate_limit": 3, **params}
    net = make_devnet(tmp_path, clock=StepClock(), validators=["validator"], miners=["m1", "m2"], **params)
    wallet = bt.wallets.open_wallet("validator", path=str(net.wallets))
    return net, wallet, net.advance_past_registration()


async def _commit(net: Devnet, wallet: bt.Wallet, weights: dict[int, float], **kwargs: Any):
    """``bt.SetWeights`` through ``neurons.chain.Chain.submit``, as the validator submits it."""
    chain = await connect("devnet", substrate=DevnetSubstrate(net.open()))
    try:
        return await chain.submit(bt.SetWeights(netuid=NETUID, weights=weights, **kwargs), wallet)
    finally:
        await chain.close()


async def _chain_state(net: Devnet) -> dict[str, Any]:
    """What the SDK reads: the validator's Weights row (raw u16), the pending commits, LastUpdate,
    Incentive."""
    async with net.client() as client:
        return {
            "block": await client.block(),
            "weights": await client.query(("SubtensorModule", "Weights"), [NETUID, 0]),
            "commits": await client.read("timelocked_weight_commits", netuid=NETUID),
            "last_update": await client.query(("SubtensorModule", "LastUpdate"), [NETUID]),
            "incentive": await client.query(("SubtensorModule", "Incentive"), [NETUID]),
        }


def _commit_state(net: Devnet) -> None:
    """A write at the current block: what is due (reveals, epochs) is committed to the file."""
    with contextlib.closing(net.open()) as store, store.transaction() as conn:
        runtime.run_epochs(conn, store.block(conn))


def _admin(net: Devnet, change) -> None:
    """An admin write at the current step-clock block (``change(conn, block)``)."""
    with contextlib.closing(net.open()) as store, store.write() as (conn, block):
        change(conn, block)


def test_a_commit_lands_nothing_is_in_weights_until_the_reveal_epoch_then_exactly_the_committed_values(tmp_path):
    net, wallet, start = _net(tmp_path)
    hotkey = wallet.hotkeypub.ss58_address

    async def go():
        result = await _commit(net, wallet, {1: 1.0, 2: 3.0})
        states = [await _chain_state(net)]
        for _ in range(TEMPO):
            net.clock.advance(1)
            states.append(await _chain_state(net))
        return result, states

    result, states = asyncio.run(go())
    assert result.ok, result
    committed, *waiting, revealed = states
    assert committed["block"] == start and committed["weights"] == []
    [(epoch, [entry])] = committed["commits"].items()
    assert entry["hotkey"] == hotkey and entry["commit_block"] == start
    assert committed["last_update"][0] == start  # LastUpdate moves at the commit
    assert all(s["weights"] == [] and s["incentive"] == [0, 0, 0] for s in waiting)
    assert revealed["block"] == start + TEMPO
    # normalize([1, 2], [1.0, 3.0]): max-upscaled u16, exactly what the SDK encrypted.
    assert revealed["weights"] == [(1, 21845), (2, 65535)]
    assert revealed["commits"] == {} and revealed["last_update"][0] == start
    # The reveal runs before that block's epoch, so the epoch already pays on the revealed weights.
    assert 0 < revealed["incentive"][1] < revealed["incentive"][2]


def test_the_ciphertext_stored_is_the_sdks_real_encryption_output_and_not_the_plaintext(tmp_path, monkeypatch):
    net, wallet, _ = _net(tmp_path)
    outputs: list[bytes] = []
    encrypt = bittensor_core.get_encrypted_commit_v2

    def spy(*args: Any, **kwargs: Any):
        commit, reveal_round = encrypt(*args, **kwargs)  # the real function (wrapped or not)
        outputs.append(bytes(commit))
        return commit, reveal_round

    monkeypatch.setattr(bittensor_core, "get_encrypted_commit_v2", spy)

    async def go():
        result = await _commit(net, wallet, {1: 1.0, 2: 3.0}, version_key=77)
        return result, await _chain_state(net)

    result, state = asyncio.run(go())
    assert result.ok, result
    [[entry]] = state["commits"].values()
    stored = bytes.fromhex(entry["ciphertext"].removeprefix("0x"))
    assert [stored] == outputs  # byte for byte what bittensor_core returned to the SDK
    # SCALE of the plaintext's u16 values (21845, 65535) and version key 77 appear nowhere in it.
    for plain in ((21845).to_bytes(2, "little") + (65535).to_bytes(2, "little"),
                  (77).to_bytes(8, "little")):
        assert plain not in stored
    # What the devnet keeps beside it, from the wrapper, is the plaintext.
    assert timelock.recall(stored) == timelock.CommitPlaintext(
        (1, 2), (21845, 65535), 77, bytes(wallet.hotkeypub.public_key)
    )


def test_the_weights_rate_limit_applies_to_commits_in_the_sdks_preflight_and_on_chain(tmp_path):
    net, wallet, start = _net(tmp_path)  # weights_rate_limit 3

    async def raw_commit():
        call = bt.calls.SubtensorModule.commit_timelocked_mechanism_weights(
            netuid=NETUID, mecid=0, commit=os.urandom(64), reveal_round=1,
            commit_reveal_version=runtime.COMMIT_REVEAL_VERSION,
        )
        async with net.client() as client:
            return await client.submit_call(call, wallet, signer="hotkey")

    async def go():
        first = await _commit(net, wallet, {1: 1.0})
        net.clock.advance(2)
        early = await _commit(net, wallet, {1: 1.0})
        on_chain = await raw_commit()
        net.clock.advance(1)
        later = await _commit(net, wallet, {2: 1.0})
        return first, early, on_chain, later, await _chain_state(net)

    first, early, on_chain, later, state = asyncio.run(go())
    assert first.ok and later.ok
    assert not early.ok and early.rate_limited  # the SDK's preflight, on the commit's LastUpdate
    assert not on_chain.success and on_chain.error.name == "CommittingWeightsTooFast"
    assert state["last_update"][0] == start + 3
    assert [e["commit_block"] for e in state["commits"][max(state["commits"])]] == [start, start + 3]


def test_plain_set_weights_is_refused_while_commit_reveal_is_on_and_writes_nothing(tmp_path):
    net, wallet, _ = _net(tmp_path)
    before = net.dump()

    async def go():
        call = bt.calls.SubtensorModule.set_mechanism_weights(
            netuid=NETUID, mecid=0, dests=[1], weights=[65535], version_key=0
        )
        async with net.client() as client:
            return await client.submit_call(call, wallet, signer="hotkey")

    result = asyncio.run(go())
    assert not result.success and result.error.name == "CommitRevealEnabled"
    assert net.dump() == before


def _raise_version_key(conn, block, hotkey):
    runtime.set_hyperparameter(conn, block, NETUID, "weights_version", 5)


def _revoke_permit(conn, block, hotkey):
    runtime.set_permit(conn, NETUID, hotkey, False)


def _raise_min_allowed_weights(conn, block, hotkey):
    runtime.set_hyperparameter(conn, block, NETUID, "min_allowed_weights", 3)


@pytest.mark.parametrize("change, error", [
    (_raise_version_key, "IncorrectWeightVersionKey"),
    (_revoke_permit, "NeuronNoValidatorPermit"),
    (_raise_min_allowed_weights, "WeightVecLengthIsLow"),
], ids=["version-key-raised", "permit-revoked", "min-allowed-weights-raised"])
def test_a_reveal_failing_a_set_weights_check_is_dropped_silently_and_the_cli_shows_why(
    tmp_path, capsys, change, error,
):
    net, wallet, start = _net(tmp_path)
    result = asyncio.run(_commit(net, wallet, {1: 1.0, 2: 1.0}))  # two weights, version key 0
    assert result.ok, result  # the commit itself passes: the checks run at the reveal
    net.clock.advance(1)
    _admin(net, lambda conn, block: change(conn, block, wallet.hotkeypub.ss58_address))
    net.clock.advance(TEMPO - 1)
    _commit_state(net)
    state = asyncio.run(_chain_state(net))
    assert state["block"] == start + TEMPO and state["weights"] == [] and state["commits"] == {}

    assert cli_main(["reveals", "--netuid", str(NETUID), "--state", str(net.state)]) == 0
    out = capsys.readouterr().out
    [line] = [row for row in out.splitlines() if "dropped" in row]
    assert line.split()[:2] == [str(start), str(start + TEMPO)]
    assert wallet.hotkeypub.ss58_address[:12] in line and f"dropped: {error}: " in line


def test_a_commit_whose_plaintext_the_devnet_never_saw_is_dropped_at_the_reveal_with_the_reason(tmp_path):
    """A ciphertext made elsewhere (another process without the devnet): the devnet cannot
    decrypt without drand, so the reveal drops it and says so."""
    net, wallet, start = _net(tmp_path)

    async def go():
        call = bt.calls.SubtensorModule.commit_timelocked_mechanism_weights(
            netuid=NETUID, mecid=0, commit=os.urandom(300), reveal_round=1,
            commit_reveal_version=runtime.COMMIT_REVEAL_VERSION,
        )
        async with net.client() as client:
            return await client.submit_call(call, wallet, signer="hotkey")

    assert asyncio.run(go()).success
    net.clock.advance(TEMPO)
    report = admin.reveals(NETUID, state=net.state, clock=net.clock)
    [reveal] = report.reveals
    assert (reveal.commit_block, reveal.reveal_block, reveal.outcome, reveal.error) == (
        start, start + TEMPO, "dropped", "DevnetPlaintextUnknown"
    )
    assert "drand" in reveal.docs and asyncio.run(_chain_state(net))["weights"] == []


def test_off_at_creation_the_sdk_takes_the_plain_set_weights_path(tmp_path):
    net, wallet, start = _net(tmp_path, commit_reveal_weights_enabled=False)

    async def go():
        result = await _commit(net, wallet, {1: 1.0, 2: 3.0})
        async with net.client() as client:
            params = await client.read("subnet_hyperparameters", netuid=NETUID)
        return result, params, await _chain_state(net)

    result, params, state = asyncio.run(go())
    assert result.ok and params["commit_reveal_weights_enabled"] is False
    assert state["weights"] == [(1, 21845), (2, 65535)] and state["commits"] == {}


def test_turned_off_by_set_hyperparameter_the_next_set_is_plain_and_a_pending_commit_still_reveals(tmp_path):
    """The chain reveals every subnet's due commits whatever the flag (block_step reveals
    all subnets); with it off the reveal checks the rate limit and moves LastUpdate."""
    net, wallet, start = _net(tmp_path, weights_rate_limit=0)
    assert asyncio.run(_commit(net, wallet, {1: 1.0})).ok
    net.clock.advance(1)
    _admin(net, lambda conn, block: runtime.set_hyperparameter(
        conn, block, NETUID, "commit_reveal_weights_enabled", 0))
    net.clock.advance(TEMPO - 1)
    state = asyncio.run(_chain_state(net))
    assert state["weights"] == [(1, 65535)] and state["last_update"][0] == start + TEMPO
    assert asyncio.run(_commit(net, wallet, {2: 1.0})).ok
    assert asyncio.run(_chain_state(net))["weights"] == [(2, 65535)]


def test_with_a_reveal_period_of_two_the_reveal_waits_two_epochs_even_when_no_one_reads_between(tmp_path):
    net, wallet, start = _net(tmp_path, commit_reveal_period=2)
    assert asyncio.run(_commit(net, wallet, {1: 1.0})).ok
    net.clock.advance(TEMPO)
    assert asyncio.run(_chain_state(net))["weights"] == []
    net.clock.advance(3 * TEMPO)  # three epochs pass unread: the reveal lands at its own one
    reveals = admin.reveals(NETUID, state=net.state, clock=net.clock).reveals
    assert [(r.reveal_block, r.outcome) for r in reveals] == [(start + 2 * TEMPO, "revealed")]
    assert asyncio.run(_chain_state(net))["weights"] == [(1, 65535)]


def test_the_plaintext_wrapper_installs_once_however_many_substrates_are_built(tmp_path):
    net, _, _ = _net(tmp_path)
    DevnetSubstrate(net.open())
    once = bittensor_core.get_encrypted_commit_v2
    DevnetSubstrate(net.open())
    timelock.install()
    assert timelock.installed() and bittensor_core.get_encrypted_commit_v2 is once


def test_the_devnet_log_names_each_dropped_reveal_once_from_the_write_that_commits_it(tmp_path, caplog):
    net, wallet, start = _net(tmp_path)
    assert asyncio.run(_commit(net, wallet, {1: 1.0, 2: 1.0})).ok
    net.clock.advance(1)
    _admin(net, lambda conn, block: _raise_version_key(conn, block, ""))
    net.clock.advance(TEMPO - 1)
    caplog.set_level(logging.INFO, logger="neurons.devnet")
    asyncio.run(_chain_state(net))  # reads apply the reveal and roll it back: no log
    assert [r for r in caplog.records if r.name == "neurons.devnet"] == []
    _commit_state(net)
    _commit_state(net)  # already committed: nothing new to log
    [record] = [r for r in caplog.records if r.name == "neurons.devnet"]
    assert record.levelno == logging.WARNING
    assert f"dropped {wallet.hotkeypub.ss58_address}'s commit of block {start} at block {start + TEMPO}" \
        in record.getMessage() and "IncorrectWeightVersionKey" in record.getMessage()


def test_only_the_devnet_package_reaches_around_the_sdks_commit_encryption():
    """The plaintext wrapper is the devnet's alone: no other product package names the SDK's
    encryption function, its compiled core, or the devnet's timelock module. (The word
    "timelocked" itself is fine: the validator knows its writes are timelocked commits.)"""
    root = Path(__file__).resolve().parents[3]
    offenders = [
        str(path.relative_to(root))
        for package in ("neurons/validating", "neurons/mining", "neurons/chain", "neurons/shared")
        for path in (root / package).rglob("*.py")
        if any(word in path.read_text() for word in (
            "get_encrypted_commit_v2", "bittensor_core", "devnet.timelock", "devnet import timelock",
            "record_plaintext",
        ))
    ]
    assert offenders == []


def test_a_state_file_from_before_commit_reveal_opens_with_the_chains_defaults(tmp_path):
    """An older file's subnets lack the columns: opening adds them with the chain's defaults
    (commit-reveal on, reveal period 1, epoch index 0) and the new tables."""
    path = tmp_path / "old.sqlite"
    older_state_file(path, subnets_before="commit_reveal_weights_enabled",
                     drop_tables=["timelocked_commits"])
    with contextlib.closing(Store(path)) as store, store.read() as (conn, _block):
        row = conn.execute(
            "SELECT commit_reveal_weights_enabled, commit_reveal_period, epoch_index FROM subnets"
        ).fetchone()
        commits = conn.execute("SELECT COUNT(*) FROM timelocked_commits").fetchone()
    assert row == (1, 1, 0) and commits == (0,)
