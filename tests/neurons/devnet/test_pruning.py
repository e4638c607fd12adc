"""A registration on a full devnet subnet prunes the uid subtensor would, through the real SDK.

Reference: subtensor ``pallets/subtensor/src/subnets/registration.rs``: ``register_neuron``
(full subnet: ``get_neuron_to_prune`` then ``replace_neuron``, else ``NoNeuronIdAvailable``),
``get_neuron_to_prune`` (owner uids skipped; lowest ``Emission``, then earliest
``BlockAtRegistration``, then lowest uid; non-immune first while more than ``MinNonImmuneUids``
remain, else the best immune one), ``get_immune_owner_uids``; ``utils/misc.rs::
get_neuron_is_immune`` (``block - registered_at < ImmunityPeriod``); ``subnets/uids.rs::
replace_neuron``. Registrations are ``burned_register`` as the SDK sends it (coldkey-signed
``submit_call``) on a stepped clock. Scores are written into the incentive/dividends columns as
the epoch writes them (tempo 1000: no epoch runs inside a test), so the test does not depend on
how the epoch computes them.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time

import bittensor as bt
import pytest

from neurons.devnet import runtime
from neurons.devnet.cli import main
from neurons.devnet.store import Store
from neurons.devnet.substrate import DevnetSubstrate
from tests.support.devnet import NETUID, StepClock, make_devnet, older_state_file, register


def _wallet(net, name):
    return bt.wallets.open_wallet(name, path=str(net.wallets))


def _register(net, name):
    async def go():
        async with net.client() as client:
            return await register(client, _wallet(net, name))

    return asyncio.run(go())


def _block(net):
    with contextlib.closing(net.open()) as store:
        return store.block()


def _full_subnet(tmp_path):
    """Subnet 2, five uids, immunity 20 blocks, no non-immune floor, owned by "owner":

    uid 0 d     (65535 dividends)   registered block 1, a validator, weights on 2, 3 and 4
    uid 1 owner (score 0)           block 1
    uid 2 a2    (30000 incentive)   block 6 (it replaced "a"), so a lower uid than b but later
    uid 3 b     (30000 incentive)   block 1, axon served, a permit, weights on 0 and 2
    uid 4 c     (5535 incentive)    block 36, still immune at block 37
    Wrong picks: the owner (1), the lower uid on the tie (2), the highest or incentive-only
    score (0), an immune uid (4). The right one is b (3): lowest score outside the owner and
    the immune, the tie with uid 2 going to the earlier registration.
    """
    # commit-reveal off: the weights set below must be in Weights at once, to be cleared
    net = make_devnet(tmp_path, clock=StepClock(), tempo=1000, weights_rate_limit=0, max_uids=5,
                      immunity_period=20, min_non_immune_uids=0, owner="owner",
                      commit_reveal_weights_enabled=False,
                      validators=["d"], miners=["owner", "a", "b"], unregistered=["a2", "c", "new"])
    net.clock.advance(5)
    a2 = _wallet(net, "a2")
    with contextlib.closing(net.open()) as store, store.transaction() as conn:
        runtime.replace_neuron(conn, store.block(conn), NETUID, _wallet(net, "a").hotkeypub.ss58_address,
                               a2.hotkeypub.ss58_address, a2.coldkeypub.ss58_address)
    net.clock.advance(30)
    assert _register(net, "c").success
    b, d = _wallet(net, "b"), _wallet(net, "d")
    net.permit(NETUID, b)

    async def serve_and_weigh():
        async with net.client() as client:
            served = await client.execute(bt.ServeAxon(netuid=NETUID, ip="10.0.0.7", port=8091), b)
            by_b = await client.execute(
                bt.SetWeights(netuid=NETUID, uids=[0, 2], weights=[0.5, 0.5], version_key=0), b)
            by_d = await client.execute(
                bt.SetWeights(netuid=NETUID, uids=[2, 3, 4], weights=[0.4, 0.3, 0.3], version_key=0), d)
            return served, by_b, by_d

    for result in asyncio.run(serve_and_weigh()):
        assert result.success, result.message
    net.score({0: (0, 65535), 1: (0, 0), 2: (30000, 0), 3: (30000, 0), 4: (5535, 0)})
    net.clock.advance(1)
    return net


def test_a_registration_on_a_full_subnet_replaces_the_lowest_scored_non_immune_non_owner_uid(tmp_path):
    """uid 3 goes to "new", as replace_neuron: Keys/Uids, BlockAtRegistration and LastUpdate =
    the block, b's axon gone, the weights b set and those set on uid 3 cleared, incentive 0;
    the metagraph and the neurons read show it."""
    net = _full_subnet(tmp_path)
    block = _block(net)
    b, new = _wallet(net, "b").hotkeypub.ss58_address, _wallet(net, "new").hotkeypub.ss58_address
    result = _register(net, "new")
    assert result.success, result.message

    async def read():
        async with net.client() as client:
            q = lambda item, params: client.query(("SubtensorModule", item), params)
            return (await q("Uids", [NETUID, new]), await q("Uids", [NETUID, b]), await q("Keys", [NETUID, 3]),
                    await q("BlockAtRegistration", [NETUID, 3]), await q("LastUpdate", [NETUID]),
                    await q("Axons", [NETUID, b]), await q("Weights", [NETUID, 3]),
                    await q("Weights", [NETUID, 0]), await q("Incentive", [NETUID]),
                    await q("SubnetworkN", [NETUID]), await client.subnets.metagraph(NETUID),
                    await client.read("neurons", netuid=NETUID))

    (uid_new, uid_b, key, registered, last, axon, by_3, by_0, incentive, n, graph,
     lite) = asyncio.run(read())
    assert (uid_new, uid_b, key, n) == (3, None, new, 5)
    assert registered == block and last[3] == block and last[0] < block and axon is None
    assert by_3 == [] and [dest for dest, _ in by_0] == [2, 4]
    assert incentive == [0, 0, 30000, 0, 5535]
    assert graph.neurons[3].hotkey == new and graph.neurons[3].axon is None
    assert lite[3].hotkey == new and lite[3].last_update == block


def test_immunity_lasts_exactly_immunity_period_blocks(tmp_path):
    """m1 (uid 0, registered block 1, the higher score) and m2 (uid 1, block 6) on a full
    two-uid subnet with immunity 10: at block 10 both are immune and the lower-scored m2 goes
    (subtensor prunes the best immune uid when no non-immune one may go); at block 11 m1's
    immunity (11 - 1 = 10 blocks) has expired and m1 goes, although m2 scores lower."""
    for block, pruned in ((10, 1), (11, 0)):
        root = tmp_path / str(block)
        net = make_devnet(root, clock=StepClock(), tempo=1000, max_uids=2, immunity_period=10,
                          min_non_immune_uids=0, miners=["m1"], unregistered=["m2", "new"])
        net.clock.advance(5)
        assert _register(net, "m2").success
        net.score({0: (65535, 0), 1: (0, 0)})
        net.clock.advance(block - _block(net))
        assert _register(net, "new").success
        with contextlib.closing(net.open()) as store, store.transaction() as conn:
            hotkeys = dict(conn.execute("SELECT uid, hotkey FROM neurons WHERE netuid = ?", (NETUID,)))
        assert hotkeys[pruned] == _wallet(net, "new").hotkeypub.ss58_address, block


def test_at_or_below_min_non_immune_uids_the_best_immune_uid_is_pruned_instead(tmp_path):
    """subtensor's floor (``free_count > MinNonImmuneUids``): with 2 non-immune uids, one
    immune and the floor at 2, the immune uid goes although the non-immune ones score lower;
    with the floor at 1 the lowest non-immune one goes."""
    for floor, pruned in ((2, 2), (1, 0)):
        net = make_devnet(tmp_path / str(floor), clock=StepClock(), tempo=1000, max_uids=3,
                          immunity_period=10, min_non_immune_uids=floor, miners=["m1", "m2"],
                          unregistered=["m3", "new"])
        net.clock.advance(20)
        assert _register(net, "m3").success
        net.score({0: (0, 0), 1: (100, 0), 2: (65435, 0)})
        net.clock.advance(1)
        assert _register(net, "new").success
        with contextlib.closing(net.open()) as store, store.transaction() as conn:
            (hotkey,) = conn.execute("SELECT hotkey FROM neurons WHERE netuid = ? AND uid = ?",
                                     (NETUID, pruned)).fetchone()
        assert hotkey == _wallet(net, "new").hotkeypub.ss58_address, floor


@pytest.mark.parametrize("owner, floor, expect", [
    ("m1", 0, "1 owner, 0 immune, 0 non-immune"),  # the only uid is the owner's
    (None, 10, "0 owner, 0 immune, 2 non-immune"),  # too few non-immune uids, none immune
])
def test_a_full_subnet_with_no_uid_to_prune_refuses_with_no_neuron_id_available_and_writes_nothing(
    tmp_path, owner, floor, expect
):
    """``get_neuron_to_prune`` is None: every uid the owner's, or the non-immune uids at or
    below the floor with none immune (the chain's default floor of 10 refuses this on a
    two-uid subnet). NoNeuronIdAvailable, and the devnet's message says how to make room."""
    miners = ["m1"] if owner else ["m1", "m2"]
    net = make_devnet(tmp_path, clock=StepClock(), tempo=1000, max_uids=len(miners), immunity_period=0,
                      min_non_immune_uids=floor, owner=owner, miners=miners, unregistered=["new"])
    net.clock.advance(1)
    before = net.dump()
    result = _register(net, "new")
    assert not result.success and result.error.name == "NoNeuronIdAvailable"
    assert net.dump() == before
    assert expect in result.message and "--name max_allowed_uids" in result.message


def test_the_owners_earliest_registered_hotkey_is_never_pruned_when_the_owner_hotkey_is_not_registered(tmp_path):
    """get_immune_owner_tuples: with ``SubnetOwnerHotkey`` not on the subnet, the owner
    coldkey's hotkey registered first (``ImmuneOwnerUidsLimit`` 1) is spared; its second
    hotkey, registered later, is not."""
    from neurons.devnet import admin

    net = make_devnet(tmp_path, clock=StepClock(), tempo=1000, max_uids=3, immunity_period=0,
                      min_non_immune_uids=0, owner="own", unregistered=["own", "m1", "new"])
    second = admin.wallet_create("own", "second", net.wallets)
    third = admin.wallet_create("own", "third", net.wallets)

    async def go():
        async with net.client() as client:
            for hotkey in (second, third):
                call = bt.calls.SubtensorModule.burned_register(netuid=NETUID, hotkey=hotkey.hotkeypub.ss58_address)
                assert (await client.submit_call(call, hotkey)).success
                net.clock.advance(1)
            assert (await register(client, _wallet(net, "m1"))).success

    asyncio.run(go())
    net.score({0: (0, 0), 1: (0, 0), 2: (65535, 0)})
    with contextlib.closing(net.open()) as store, store.read() as (conn, block):
        assert runtime.immunity(conn, block, NETUID).owner == {0}
    assert _register(net, "new").success
    with contextlib.closing(net.open()) as store, store.transaction() as conn:
        hotkeys = [h for (h,) in conn.execute("SELECT hotkey FROM neurons ORDER BY uid")]
    assert hotkeys == [second.hotkeypub.ss58_address, _wallet(net, "new").hotkeypub.ss58_address,
                       _wallet(net, "m1").hotkeypub.ss58_address]


def test_the_subnet_owner_hotkey_is_the_one_spared_when_the_owner_has_earlier_hotkeys(tmp_path):
    """get_immune_owner_tuples puts ``SubnetOwnerHotkey`` first and cuts to the limit (1): the
    owner coldkey's hotkey registered before it (uid 0, same score) is prunable, the owner
    hotkey (uid 1) is not."""
    from neurons.devnet import admin

    net = make_devnet(tmp_path, clock=StepClock(), tempo=1000, max_uids=3, immunity_period=0,
                      min_non_immune_uids=0, owner="own", unregistered=["own", "m1", "new"])
    second = admin.wallet_create("own", "second", net.wallets)

    async def go():
        async with net.client() as client:
            for wallet in (second, _wallet(net, "own"), _wallet(net, "m1")):
                call = bt.calls.SubtensorModule.burned_register(netuid=NETUID, hotkey=wallet.hotkeypub.ss58_address)
                assert (await client.submit_call(call, wallet)).success
                net.clock.advance(1)

    asyncio.run(go())
    net.score({0: (0, 0), 1: (0, 0), 2: (65535, 0)})
    assert _register(net, "new").success
    with contextlib.closing(net.open()) as store, store.transaction() as conn:
        hotkeys = [h for (h,) in conn.execute("SELECT hotkey FROM neurons ORDER BY uid")]
    assert hotkeys == [_wallet(net, "new").hotkeypub.ss58_address, _wallet(net, "own").hotkeypub.ss58_address,
                       _wallet(net, "m1").hotkeypub.ss58_address]


def test_the_immunity_hyperparameters_are_set_by_create_subnet_and_set_hyperparameter_and_read_by_the_sdk(
    tmp_path, capsys
):
    """``--immunity-period`` / ``--min-non-immune-uids`` land in ImmunityPeriod and
    MinNonImmuneUids (the SDK's ``immunity_period`` read and ``subnet_hyperparameters``);
    set-hyperparameter changes them; the defaults are the chain's 4096 and 10, and
    ImmuneOwnerUidsLimit reads the chain's 1."""
    state = tmp_path / "c.sqlite"
    assert main(["--state", str(state), "create-subnet", "--netuid", "2", "--immunity-period", "7",
                 "--min-non-immune-uids", "3"]) == 0
    assert main(["--state", str(state), "create-subnet", "--netuid", "3"]) == 0

    async def read():
        async with bt.Client("devnet", substrate=DevnetSubstrate(Store(state))) as client:
            return [(await client.read("immunity_period", netuid=netuid),
                     (await client.read("subnet_hyperparameters", netuid=netuid))["immunity_period"],
                     await client.query(("SubtensorModule", "MinNonImmuneUids"), [netuid]))
                    for netuid in (2, 3)]

    assert asyncio.run(read()) == [(7, 7, 3), (4096, 4096, 10)]

    async def owner_limit():
        async with bt.Client("devnet", substrate=DevnetSubstrate(Store(state))) as client:
            return await client.query(("SubtensorModule", "ImmuneOwnerUidsLimit"), [2])

    assert asyncio.run(owner_limit()) == 1  # DefaultImmuneOwnerUidsLimit; no devnet call sets it
    assert main(["--state", str(state), "set-hyperparameter", "--netuid", "2",
                 "--name", "immunity_period", "--value", "0"]) == 0
    assert main(["--state", str(state), "set-hyperparameter", "--netuid", "2",
                 "--name", "min_non_immune_uids", "--value", "12"]) == 0
    out = capsys.readouterr().out
    assert "immunity_period on netuid 2: 7 -> 0" in out and "min_non_immune_uids on netuid 2: 3 -> 12" in out
    assert asyncio.run(read())[0] == (0, 0, 12)


def test_a_state_file_from_before_immunity_opens_with_the_chains_defaults(tmp_path):
    """An older subnets table lacks both columns: opening the file adds them with 4096 and 10."""
    path = tmp_path / "old.sqlite"
    older_state_file(path, subnets_before="immunity_period")
    with contextlib.closing(Store(path)) as store, store.transaction() as conn:
        rows = conn.execute("SELECT netuid, immunity_period, min_non_immune_uids FROM subnets")
        assert rows.fetchall() == [(2, 4096, 10)]


def test_the_metagraph_command_shows_who_is_immune(tmp_path, capsys):
    """IMMUNE: ``owner`` for the owner's uid, ``yes`` inside the immunity period, ``no`` after."""
    net = make_devnet(tmp_path, clock=StepClock(), tempo=1000, immunity_period=10, owner="m1",
                      miners=["m1", "m2"], unregistered=["m3"])
    net.clock.advance(10)
    assert _register(net, "m3").success
    # The command reads at wall time: move genesis so that wall time is the middle of the
    # current block, with 1000 s blocks so that the block does not change while it runs.
    block = _block(net)
    with contextlib.closing(sqlite3.connect(net.state)) as conn, conn:
        conn.execute("UPDATE meta SET value = ? WHERE key = 'genesis_time'",
                     (repr(time.time() - (block - 1) * 1000 - 500),))
        conn.execute("UPDATE meta SET value = '1000.0' WHERE key = 'block_time'")
    assert main(["metagraph", "--netuid", str(NETUID), "--state", str(net.state)]) == 0
    rows = capsys.readouterr().out.splitlines()[2:]
    assert [row.split()[7] for row in rows] == ["owner", "no", "yes"]
