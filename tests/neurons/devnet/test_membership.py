"""Deregistration (subtensor ``subnets/uids.rs::replace_neuron``) and hotkey swaps (subtensor
``swap/swap_hotkey.rs::do_swap_hotkey``) on the devnet, read back through the real SDK, and the
admin commands that make them (``python -m neurons.devnet deregister`` / ``swap-hotkey``).
"""

from __future__ import annotations

import asyncio
import contextlib

import bittensor as bt
import pytest

from neurons.devnet import admin, runtime
from neurons.devnet.cli import main
from neurons.devnet.runtime import DispatchError
from tests.support.devnet import NETUID, StepClock, make_devnet


def _net(tmp_path):
    """val (uid 0, staked, permitted), m1 (uid 1, axon served, staked 5), m2 (uid 2); val weighs 1 and 2;
    "new" exists unregistered."""
    # Commit-reveal off: the weights must be on chain at once for the clearing checks.
    net = make_devnet(tmp_path, clock=StepClock(), tempo=1000, weights_rate_limit=0,
                      validators=["val"], miners=["m1", "m2"], unregistered=["new"],
                      commit_reveal_weights_enabled=False)
    keys = {name: bt.wallets.open_wallet(name, path=str(net.wallets)) for name in ("val", "m1", "m2", "new")}
    net.clock.advance(1)
    with contextlib.closing(net.open()) as store, store.transaction() as conn:
        block = store.block(conn)
        runtime.dispatch(conn, block, "SubtensorModule", "serve_axon",
                         {"netuid": NETUID, "version": 1, "ip": 167772167, "port": 9000, "ip_type": 4,
                          "protocol": 4}, keys["m1"].hotkeypub.ss58_address)
        runtime.dispatch(conn, block, "SubtensorModule", "add_stake",
                         {"netuid": NETUID, "hotkey": keys["m1"].hotkeypub.ss58_address,
                          "amount_staked": 5 * 10**9}, keys["m1"].coldkeypub.ss58_address)
        runtime.dispatch(conn, block, "SubtensorModule", "set_mechanism_weights",
                         {"netuid": NETUID, "mecid": 0, "dests": [1, 2], "weights": [1, 1],
                          "version_key": 0}, keys["val"].hotkeypub.ss58_address)
    return net, keys


def _read(net, *queries):
    async def go():
        async with net.client() as client:
            return [await client.query(("SubtensorModule", item), params) for item, params in queries]

    return asyncio.run(go())


def _apply(net, operation):
    with contextlib.closing(net.open()) as store, store.transaction() as conn:
        return operation(conn, store.block(conn))


def test_deregistering_gives_the_uid_to_the_replacement_with_a_fresh_registration(tmp_path):
    """As replace_neuron: the new hotkey holds uid 1, the old one no uid; the old axon is gone;
    LastUpdate and the registration block are the replacement's block; weights by and onto
    the uid are dropped; stake and incentive start at zero."""
    net, keys = _net(tmp_path)
    old, new = keys["m1"].hotkeypub.ss58_address, keys["new"].hotkeypub.ss58_address
    net.clock.advance(5)
    uid, block = _apply(net, lambda conn, block: (
        runtime.replace_neuron(conn, block, NETUID, old, new, keys["new"].coldkeypub.ss58_address), block))
    uids_old, uids_new, key, axon_old, axon_new, last, weights = _read(
        net, ("Uids", [NETUID, old]), ("Uids", [NETUID, new]), ("Keys", [NETUID, 1]),
        ("Axons", [NETUID, old]), ("Axons", [NETUID, new]), ("LastUpdate", [NETUID]),
        ("Weights", [NETUID, 0]),
    )
    assert uid == 1 and (uids_old, uids_new, key) == (None, 1, new)
    assert axon_old is None and axon_new is None
    assert last[1] == block and last[0] < block
    assert [dest for dest, _ in weights] == [2]
    with contextlib.closing(net.open()) as store, store.transaction() as conn:
        row = conn.execute("SELECT registered_at, stake, incentive, permit, coldkey FROM neurons "
                           "WHERE netuid = ? AND uid = 1", (NETUID,)).fetchone()
    assert row == (block, 0, 0, 0, keys["new"].coldkeypub.ss58_address)


@pytest.mark.parametrize("old, new, error", [
    ("new", "m2", "HotKeyNotRegisteredInSubNet"),
    ("m1", "m2", "HotKeyAlreadyRegisteredInSubNet"),
])
def test_deregistering_is_refused_as_the_chain_would_and_writes_nothing(tmp_path, old, new, error):
    net, keys = _net(tmp_path)
    before = net.dump()
    with pytest.raises(DispatchError) as caught:
        _apply(net, lambda conn, block: runtime.replace_neuron(
            conn, block, NETUID, keys[old].hotkeypub.ss58_address, keys[new].hotkeypub.ss58_address,
            keys[new].coldkeypub.ss58_address))
    assert caught.value.name == error
    assert net.dump() == before


def _second_hotkey(net, name="m1"):
    return admin.wallet_create(name, "second", net.wallets)


def test_a_swapped_hotkey_keeps_the_uid_registration_block_weights_and_carries_axon_and_stake(tmp_path):
    """As swap_hotkey: Uids/Keys move to the new hotkey; the uid's BlockAtRegistration,
    LastUpdate and weights stay; the axon, stake and Owner entry go with the key."""
    net, keys = _net(tmp_path)
    for name in ("val", "m1"):
        wallet = keys[name]
        second = _second_hotkey(net, name)
        with contextlib.closing(net.open()) as store, store.transaction() as conn:
            before = conn.execute("SELECT uid, registered_at, last_update, stake, port FROM neurons "
                                  "WHERE hotkey = ?", (wallet.hotkeypub.ss58_address,)).fetchone()
        moved = _apply(net, lambda conn, block: runtime.swap_hotkey(
            conn, wallet.hotkeypub.ss58_address, second.hotkeypub.ss58_address,
            wallet.coldkeypub.ss58_address))
        with contextlib.closing(net.open()) as store, store.transaction() as conn:
            after = conn.execute("SELECT uid, registered_at, last_update, stake, port FROM neurons "
                                 "WHERE hotkey = ?", (second.hotkeypub.ss58_address,)).fetchone()
        old_uid, new_uid, owner, axon = _read(
            net, ("Uids", [NETUID, wallet.hotkeypub.ss58_address]),
            ("Uids", [NETUID, second.hotkeypub.ss58_address]),
            ("Owner", [second.hotkeypub.ss58_address]), ("Axons", [NETUID, second.hotkeypub.ss58_address]),
        )
        assert moved == [NETUID] and after == before
        assert old_uid is None and new_uid == before[0] and owner == wallet.coldkeypub.ss58_address
        assert (axon is not None) == (name == "m1")
    (weights,) = _read(net, ("Weights", [NETUID, 0]))
    assert [dest for dest, _ in weights] == [1, 2]


def test_a_swap_is_refused_as_the_chain_would_and_writes_nothing(tmp_path):
    """Another coldkey's hotkey: NonAssociatedColdKey; the same key: NewHotKeyIsSameWithOld;
    onto a registered hotkey of the same coldkey: HotKeyAlreadyRegisteredInSubNet."""
    net, keys = _net(tmp_path)
    m1 = keys["m1"]
    cold = m1.coldkeypub.ss58_address
    hot = m1.hotkeypub.ss58_address
    _second_hotkey(net)
    # A registered second hotkey of m1's coldkey (uid 3).
    registered = admin.wallet_create("m1", "third", net.wallets)
    _apply(net, lambda conn, block: runtime.dispatch(
        conn, block, "SubtensorModule", "burned_register",
        {"netuid": NETUID, "hotkey": registered.hotkeypub.ss58_address}, cold))
    before = net.dump()
    cases = [
        (keys["m2"].hotkeypub.ss58_address, hot, cold, "NonAssociatedColdKey"),
        (hot, keys["m2"].hotkeypub.ss58_address, cold, "NonAssociatedColdKey"),
        (hot, hot, cold, "NewHotKeyIsSameWithOld"),
        (hot, registered.hotkeypub.ss58_address, cold, "HotKeyAlreadyRegisteredInSubNet"),
    ]
    for old, new, coldkey, error in cases:
        with pytest.raises(DispatchError) as caught:
            _apply(net, lambda conn, block: runtime.swap_hotkey(conn, old, new, coldkey))
        assert caught.value.name == error, (old, new)
    assert net.dump() == before


def test_deregister_and_swap_hotkey_commands_change_the_subnet_as_the_sdk_reads_it(tmp_path, capsys):
    paths = ["--state", str(tmp_path / "c.sqlite"), "--wallet.path", str(tmp_path / "w")]
    assert main(["create-subnet", "--netuid", "2", *paths]) == 0
    for name in ("a", "b"):
        assert main(["wallet-create", "--wallet.name", name, *paths]) == 0
    assert main(["wallet-create", "--wallet.name", "a", "--wallet.hotkey", "spare", *paths]) == 0
    assert main(["register", "--netuid", "2", "--wallet.name", "a", *paths]) == 0
    capsys.readouterr()
    assert main(["swap-hotkey", "--wallet.name", "a", "--new-hotkey", "spare", *paths]) == 0
    assert capsys.readouterr().out.strip() == "swapped a/default -> spare on netuid 2"
    assert main(["deregister", "--netuid", "2", "--wallet.name", "a", "--wallet.hotkey", "spare",
                 "--replacement.name", "b", *paths]) == 0
    assert capsys.readouterr().out.strip() == (
        "deregistered a/spare from netuid 2: uid 0 is now b/default")
    view = asyncio.run(_metagraph(tmp_path / "c.sqlite"))
    b = bt.wallets.open_wallet("b", path=str(tmp_path / "w"))
    assert [n.hotkey for n in view.neurons] == [b.hotkeypub.ss58_address]
    assert main(["deregister", "--netuid", "2", "--wallet.name", "a", "--replacement.name", "b",
                 *paths]) == 1
    assert "HotKeyNotRegisteredInSubNet" in capsys.readouterr().err


async def _metagraph(state):
    chain = await admin.open_chain(state)
    try:
        return await chain.metagraph(2)
    finally:
        await chain.close()


def test_the_validator_keeps_a_swapped_uids_score_and_resets_a_deregistered_one(tmp_path):
    """End to end through the admin functions and the metagraph the validator reads: m1 swaps
    its hotkey (same BlockAtRegistration: scoring.reconcile keeps its average), m2 is
    deregistered for "new" (a new registration block: its average starts from zero)."""
    from neurons.validating import scoring

    net, keys = _net(tmp_path)

    def view():
        async def go():
            chain = await admin.open_chain(net.state)
            try:
                return await chain.metagraph(NETUID)
            finally:
                await chain.close()

        return asyncio.run(go())

    before = view()
    second = _second_hotkey(net)
    net.clock.advance(3)
    _apply(net, lambda conn, block: runtime.swap_hotkey(
        conn, keys["m1"].hotkeypub.ss58_address, second.hotkeypub.ss58_address,
        keys["m1"].coldkeypub.ss58_address))
    _apply(net, lambda conn, block: runtime.replace_neuron(
        conn, block, NETUID, keys["m2"].hotkeypub.ss58_address, keys["new"].hotkeypub.ss58_address,
        keys["new"].coldkeypub.ss58_address))
    after = view()
    rec = scoring.reconcile(
        {1: 0.5, 2: 0.7}, {n.uid: n.hotkey for n in before.neurons},
        {n.uid: n.hotkey for n in after.neurons},
        known_registered={n.uid: n.registered_at for n in before.neurons},
        current_registered={n.uid: n.registered_at for n in after.neurons},
    )
    assert rec.swapped == (1,) and rec.reset == (2,)
    assert rec.averages[1] == 0.5 and rec.averages.get(2, 0.0) == 0.0
