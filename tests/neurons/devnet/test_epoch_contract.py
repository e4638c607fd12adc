"""Contract tests of the Yuma epoch: the real SDK sets weights and reads the metagraph, the
bonds and the neurons back from the devnet; every expected number is worked out here by hand
from subtensor's formulas (``epoch/run_epoch.rs::epoch_mechanism``, ``epoch/math.rs``), not by
calling ``neurons.devnet.yuma``.

Shared scenario: validators uid 0, 1, 2 with 450, 350, 200 TAO (normalised stake
s = .45, .35, .2), miners uid 3, 4, 5 (no stake), tempo 4, weights rate limit 3, the runtime's
defaults: kappa 32767/65535 (just under .5), bonds moving average .9 (alpha .1), bonds
penalty 1 (bonds follow the clipped weights). Stored values are u16 fractions: the chain
truncates (``fixed_proportion_to_u16``), so each expectation is ``floor(x * 65535)``. The
bonds and dividends differ by the subnet's ``Yuma3On`` (the two branches of
``epoch_mechanism``): each test names the one it runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import math

import bittensor as bt

from tests.support.devnet import StepClock, make_devnet, register, stake
from tests.support.wallets import make_wallet

U16 = 65535


def u16(x: float) -> int:
    """What the chain stores for the fraction ``x`` (fixed_proportion_to_u16 truncates)."""
    return math.floor(x * U16 + 1e-6)  # 1e-6: float noise, far under I32F32's 2^-32


def stored(fraction: float) -> int:
    """The u16 the SDK decoded ``fraction`` from (it reads PerU16 as value / 65535)."""
    return round(fraction * U16)


def _three_validators(tmp_path, *, yuma3):
    net = make_devnet(tmp_path, clock=StepClock(), tempo=4, weights_rate_limit=3,
                      validators=("v0", "v1", "v2"), miners=("m3", "m4", "m5"),
                      validator_stake=200, yuma3_enabled=yuma3)
    wallets = {name: bt.wallets.open_wallet(name, path=str(net.wallets))
               for name in ("v0", "v1", "v2", "m3", "m4", "m5")}

    async def top_up():
        async with net.client() as client:  # 200 + 250 = 450, 200 + 150 = 350, 200
            assert (await stake(client, wallets["v0"], 250)).success
            assert (await stake(client, wallets["v1"], 150)).success

    asyncio.run(top_up())
    net.advance_past_registration()
    return net, wallets


async def _set(client, wallet, weights):
    result = await client.execute(bt.SetWeights(netuid=2, weights=weights), wallet)
    assert result.success, result.message


def test_yuma_clips_the_validator_far_from_consensus_and_bonds_follow_the_moving_average(tmp_path):
    """The original Yuma branch (``Yuma3On`` false, as on a subnet from before init_new_network
    set it)."""
    net, w = _three_validators(tmp_path, yuma3=False)

    async def go():
        async with net.client() as client:
            # Weights as the chain row-normalises them (the SDK max-upscales to u16:
            # .6/.4 -> 65535/43690, .25/.75 -> 21845/65535, which normalise back exactly).
            await _set(client, w["v0"], {3: 0.6, 4: 0.4})
            await _set(client, w["v1"], {3: 0.4, 4: 0.6})
            await _set(client, w["v2"], {4: 0.25, 5: 0.75})  # far from the others
            net.clock.advance(4)  # the next epoch
            first = (await client.subnets.metagraph(2), await client.read("bonds", netuid=2),
                     await client.read("neurons", netuid=2, lite=False))
            # v2 comes round to the others; the others keep their weights.
            await _set(client, w["v2"], {3: 0.5, 4: 0.5})
            net.clock.advance(4)
            second = (await client.subnets.metagraph(2), await client.read("bonds", netuid=2))
            return first, second

    (graph1, bonds1, neurons1), (graph2, bonds2) = asyncio.run(go())

    # --- epoch 1 ---------------------------------------------------------------------------
    # Consensus: per miner, the stake-weighted median (weighted_median, minority 1 - kappa).
    #   miner 3: scores .6 (s .45), .4 (.35), 0 (.2); sorted 0 | .4 | .6, cumulative stake
    #            .2 | .55 | 1: the median (.5) falls on .4.
    #   miner 4: scores .4 (.45), .6 (.35), .25 (.2); sorted .25 | .4 | .6, cumulative
    #            .2 | .65 | 1: .4.
    #   miner 5: scores 0, 0, .75 (.2): 0 carries .8 of the stake: 0.
    consensus = [0, 0, 0, .4, .4, 0]
    assert [stored(n.consensus) for n in graph1.neurons] == [u16(c) for c in consensus]
    # Clipped weights min(W, consensus):
    #   v0: 3 .6 -> .4, 4 .4        v1: 3 .4, 4 .6 -> .4        v2: 4 .25, 5 .75 -> 0
    # Validator trust = row sums of the clipped weights: .8, .8, .25.
    vtrust = {0: .8, 1: .8, 2: .25}
    assert {n.uid: n.raw["validator_trust"] for n in neurons1 if n.uid < 3} == {
        uid: u16(v) for uid, v in vtrust.items()}
    # Rank r_j = sum_i clipped_ij * s_i: r3 = .45*.4 + .35*.4 = .32; r4 = .32 + .2*.25 = .37;
    # r5 = 0. Incentive = rank / sum(rank) = .32/.69, .37/.69, 0.
    incentive = [0, 0, 0, .32 / .69, .37 / .69, 0]
    assert [stored(n.incentive) for n in graph1.neurons] == [u16(x) for x in incentive]
    # Bonds: delta = clipped * s per row: v0 (3 .18, 4 .18), v1 (3 .14, 4 .14), v2 (4 .05),
    # column-normalised (the column sums are the ranks .32, .37). No bonds before, so the EMA
    # .1 * delta + .9 * 0, column-normalised again, is delta / rank.
    # Dividends d_i = sum_j bond_ij * incentive_j = sum_j delta_ij / sum(rank):
    #   v0 (.18 + .18) / .69, v1 (.14 + .14) / .69, v2 .05 / .69 (already summing to 1).
    dividends = [.36 / .69, .28 / .69, .05 / .69, 0, 0, 0]
    assert [stored(n.dividends) for n in graph1.neurons] == [u16(x) for x in dividends]
    # Stored bonds: column max-upscaled (v0's are each column's largest):
    #   v1 .14/.18 on both, v2 .05/.18 on miner 4.
    expected_bonds1 = {0: {3: U16, 4: U16}, 1: {3: u16(.14 / .18), 4: u16(.14 / .18)},
                       2: {4: u16(.05 / .18)}}
    assert {i: {j: stored(b) for j, b in row.items()} for i, row in bonds1.items()} == expected_bonds1
    assert neurons1[1].raw["bonds"] == sorted(expected_bonds1[1].items())

    # --- epoch 2 ---------------------------------------------------------------------------
    # Weights: v0 (.6, .4), v1 (.4, .6), v2 (.5, .5) on miners 3, 4.
    #   miner 3: sorted .4 (.35) | .5 (.2) | .6 (.45): cumulative .35 | .55: median .5.
    #   miner 4: sorted .4 (.45) | .5 (.2) | .6 (.35): cumulative .45 | .65: median .5.
    # Clipped: v0 (.5, .4), v1 (.4, .5), v2 (.5, .5). Ranks: r3 = .225 + .14 + .1 = .465,
    # r4 = .18 + .175 + .1 = .455; incentive r / .92.
    assert [stored(n.consensus) for n in graph2.neurons] == [0, 0, 0, u16(.5), u16(.5), 0]
    inc3, inc4 = .465 / .92, .455 / .92
    assert [stored(n.incentive) for n in graph2.neurons] == [0, 0, 0, u16(inc3), u16(inc4), 0]
    # Bonds EMA: old bonds are the stored u16s, column-normalised; delta is this epoch's
    # clipped * s, column-normalised by the ranks; ema = .1 * delta + .9 * old (the columns
    # of both sum to 1, so the EMA's do too and its normalisation changes nothing).
    old = expected_bonds1
    col3 = old[0][3] + old[1][3]
    col4 = old[0][4] + old[1][4] + old[2][4]
    delta = {0: (.225 / .465, .18 / .455), 1: (.14 / .465, .175 / .455), 2: (.1 / .465, .1 / .455)}
    ema = {
        0: (.1 * delta[0][0] + .9 * old[0][3] / col3, .1 * delta[0][1] + .9 * old[0][4] / col4),
        1: (.1 * delta[1][0] + .9 * old[1][3] / col3, .1 * delta[1][1] + .9 * old[1][4] / col4),
        # v2 had no bond on miner 3: only a tenth of its new share gets in.
        2: (.1 * delta[2][0], .1 * delta[2][1] + .9 * old[2][4] / col4),
    }
    raw_dividends = [ema[i][0] * inc3 + ema[i][1] * inc4 for i in range(3)]
    total = sum(raw_dividends)
    assert [stored(n.dividends) for n in graph2.neurons][:3] == [u16(d / total) for d in raw_dividends]
    peak3, peak4 = max(e[0] for e in ema.values()), max(e[1] for e in ema.values())
    assert {i: {j: stored(b) for j, b in row.items()} for i, row in bonds2.items()} == {
        i: {3: u16(ema[i][0] / peak3), 4: u16(ema[i][1] / peak4)} for i in range(3)}
    # The moving average at work: v2's bond on miner 3 is far below its share of this epoch's
    # votes (.1/.465 of the column), which a bond without memory would be.
    assert bonds2[2][3] < 0.5 * (.1 / .465) / (.225 / .465)


def test_yuma3_bonds_are_each_validators_own_weights_remembered_and_dividends_weigh_them_by_stake(tmp_path):
    """The Yuma3 branch (``if Yuma3On``, what init_new_network gives every new subnet): the same
    weights and stakes as the original-Yuma test above, so consensus and incentive are the same;
    only the bonds and dividends differ. With liquid alpha off, ``compute_bonds_sparse`` is
    ``mat_ema_sparse(W_b, B, alpha)``: ``ema = .1 * W_b + .9 * B``, where ``W_b`` is the clipped
    weights (bonds penalty 1) and ``B`` the stored bonds read as fractions (u16 / 65535, no
    normalisation); ``ema`` is stored as is (u16, truncated; no max-upscaling). Dividends:
    ``d_i = s_i * sum_j ema_ij / sum_k ema_kj * incentive_j``, normalised."""
    net, w = _three_validators(tmp_path, yuma3=True)

    async def go():
        async with net.client() as client:
            params = await client.read("subnet_hyperparameters", netuid=2)
            await _set(client, w["v0"], {3: 0.6, 4: 0.4})
            await _set(client, w["v1"], {3: 0.4, 4: 0.6})
            await _set(client, w["v2"], {4: 0.25, 5: 0.75})
            net.clock.advance(4)
            first = (await client.subnets.metagraph(2), await client.read("bonds", netuid=2))
            await _set(client, w["v2"], {3: 0.5, 4: 0.5})
            net.clock.advance(4)
            second = (await client.subnets.metagraph(2), await client.read("bonds", netuid=2))
            return params, first, second

    params, (graph1, bonds1), (graph2, bonds2) = asyncio.run(go())
    assert params["yuma_version"] == 3  # get_subnet_hyperparams_v3: 3 when Yuma3On
    s = (.45, .35, .2)

    # --- epoch 1 ---------------------------------------------------------------------------
    # Consensus (.4 on miners 3 and 4) and incentive as in the original-Yuma test: the branch
    # only changes what comes after the incentive.
    inc3, inc4 = .32 / .69, .37 / .69
    assert [stored(n.incentive) for n in graph1.neurons] == [0, 0, 0, u16(inc3), u16(inc4), 0]
    # W_b = clipped: v0 (3 .4, 4 .4), v1 (3 .4, 4 .4), v2 (4 .25). No bonds yet (B = 0):
    # ema = .1 * W_b: v0 (.04, .04), v1 (.04, .04), v2 (4 .025). Stored as they are:
    # floor(.04 * 65535) = floor(2621.4) = 2621, floor(.025 * 65535) = floor(1638.375) = 1638.
    assert (u16(.04), u16(.025)) == (2621, 1638)
    expected_bonds1 = {0: {3: 2621, 4: 2621}, 1: {3: 2621, 4: 2621}, 2: {4: 1638}}
    assert {i: {j: stored(b) for j, b in row.items()} for i, row in bonds1.items()} == expected_bonds1
    # ema column-normalised: miner 3: .04 / .08 = .5 for v0 and v1; miner 4: sum .105, so
    # v0, v1 .04 / .105 and v2 .025 / .105. Per validator, sum_j ema_norm_ij * incentive_j:
    #   v0 = v1 = .5 * inc3 + (.04 / .105) * inc4;   v2 = (.025 / .105) * inc4;
    # times the active stake (.45, .35, .2), normalised.
    per_bond = (.5 * inc3 + .04 / .105 * inc4, .5 * inc3 + .04 / .105 * inc4, .025 / .105 * inc4)
    raw = [per_bond[i] * s[i] for i in range(3)]
    assert [stored(n.dividends) for n in graph1.neurons] == [u16(d / sum(raw)) for d in raw] + [0, 0, 0]
    # Where the original branch pays v2 its share of the stake-weighted votes (.05 / .69 = .072),
    # Yuma3 weighs v2's smaller bond share by its stake: .2 * (5/21) * inc4 of the total.
    assert stored(graph1.neurons[2].dividends) < u16(.05 / .69)

    # --- epoch 2: v2 now weights (3 .5, 4 .5) -----------------------------------------------
    # Consensus .5 on both miners (as in the original test); clipped = W_b:
    #   v0 (.5, .4), v1 (.4, .5), v2 (.5, .5); incentive .465 / .92, .455 / .92.
    inc3, inc4 = .465 / .92, .455 / .92
    assert [stored(n.incentive) for n in graph2.neurons] == [0, 0, 0, u16(inc3), u16(inc4), 0]
    # The EMA on the stored fractions b = 2621 / 65535 and b2 = 1638 / 65535:
    b, b2 = 2621 / U16, 1638 / U16
    ema = {
        0: (.1 * .5 + .9 * b, .1 * .4 + .9 * b),
        1: (.1 * .4 + .9 * b, .1 * .5 + .9 * b),
        # v2 had no bond on miner 3: only a tenth of its new weight gets in.
        2: (.1 * .5, .1 * .5 + .9 * b2),
    }
    assert {i: {j: stored(v) for j, v in row.items()} for i, row in bonds2.items()} == {
        i: {3: u16(e3), 4: u16(e4)} for i, (e3, e4) in ema.items()}
    col3, col4 = sum(e[0] for e in ema.values()), sum(e[1] for e in ema.values())
    raw = [(ema[i][0] / col3 * inc3 + ema[i][1] / col4 * inc4) * s[i] for i in range(3)]
    assert [stored(n.dividends) for n in graph2.neurons] == [u16(d / sum(raw)) for d in raw] + [0, 0, 0]
    # The moving average at work: v2 weights miner 3 as much as v0 now, but its bond there is
    # .05 against v0's .05 + .9 * .04 = .086.
    assert bonds2[2][3] < 0.6 * bonds2[0][3]


def test_weights_set_in_a_miners_registration_block_give_it_nothing_until_set_again(tmp_path):
    """subtensor masks W[i, j] when ``last_update[i] <= block_at_registration[j]``: weights set
    before the miner's uid was registered (the chain cannot order a block's extrinsics, so the
    registration block counts as before) are outdated. Setting them again un-masks them."""
    net = make_devnet(tmp_path, clock=StepClock(), tempo=4, weights_rate_limit=3,
                      validators=("v0",), miners=("m1",))
    v0 = bt.wallets.open_wallet("v0", path=str(net.wallets))
    late = make_wallet(net.wallets, "late", 9)
    net.advance_past_registration()

    async def go():
        async with net.client() as client:
            assert (await register(client, late)).success  # uid 2, this block
            await _set(client, v0, {1: 0.5, 2: 0.5})  # same block: outdated for uid 2
            net.clock.advance(4)
            before = await client.subnets.metagraph(2)
            await _set(client, v0, {1: 0.5, 2: 0.5})  # a later block: counts
            net.clock.advance(4)
            after = await client.subnets.metagraph(2)
            return before, after

    before, after = asyncio.run(go())
    # Before: uid 2's weight is masked, the row renormalises to uid 1 alone.
    assert [stored(n.incentive) for n in before.neurons] == [0, U16, 0]
    assert [stored(n.incentive) for n in after.neurons] == [0, u16(.5), u16(.5)]


def test_a_state_file_from_before_the_yuma_epoch_opens_with_the_chains_defaults(tmp_path):
    """An older file lacks the epoch's columns and tables: opening it adds them (consensus and
    validator trust 0, active true, max_allowed_validators 128, Yuma3 off, no bonds, no
    overrides), keeps the rows, and the next epoch runs on them (the original Yuma branch:
    its bonds are column max-upscaled, so a lone bond reads 1.0, where Yuma3 would store .1)."""
    import sqlite3

    from neurons.devnet.store import Store

    net = make_devnet(tmp_path, clock=StepClock(), tempo=4, weights_rate_limit=3,
                      validators=("v0",), miners=("m1",))
    with contextlib.closing(sqlite3.connect(net.state)) as conn, conn:
        for table, column in (("neurons", "consensus"), ("neurons", "validator_trust"),
                              ("neurons", "active"), ("subnets", "max_allowed_validators"),
                              ("subnets", "yuma3_enabled")):
            conn.execute(f"ALTER TABLE {table} DROP COLUMN {column}")
        conn.execute("DROP TABLE bonds")
        conn.execute("DROP TABLE permit_overrides")
    with contextlib.closing(Store(net.state, clock=net.clock)) as store, store.read() as (conn, _):
        assert conn.execute("SELECT max_allowed_validators, yuma3_enabled FROM subnets").fetchall() == [
            (128, 0)]
        assert conn.execute("SELECT uid, consensus, validator_trust, active FROM neurons "
                            "ORDER BY uid").fetchall() == [(0, 0, 0, 1), (1, 0, 0, 1)]
    net.advance_past_registration()

    async def go():
        async with net.client() as client:
            await _set(client, bt.wallets.open_wallet("v0", path=str(net.wallets)), {1: 1.0})
            net.clock.advance(4)
            return await client.subnets.metagraph(2), await client.read("bonds", netuid=2)

    graph, bonds = asyncio.run(go())
    # The admin permit of make_devnet was dropped with its table: v0 keeps the permit its
    # stake rank gives it (top-1 of 1 staked uid), so its weights still count.
    assert [stored(n.incentive) for n in graph.neurons] == [0, U16]
    assert bonds == {0: {1: 1.0}}


def test_a_validator_silent_past_the_activity_cutoff_no_longer_votes(tmp_path):
    """tempo 4: the cutoff is max(1, 13889 * 4 // 1000) = 55 blocks. v0 (300 TAO) backs miner 2,
    v1 (100 TAO) miner 3; once v0's last weights are more than 55 blocks old it is inactive
    (``last_update + cutoff < block``) and only v1's stake votes."""
    net = make_devnet(tmp_path, clock=StepClock(), tempo=4, weights_rate_limit=3,
                      validators=("v0", "v1"), miners=("m2", "m3"), validator_stake=100)
    w = {n: bt.wallets.open_wallet(n, path=str(net.wallets)) for n in ("v0", "v1")}

    async def top_up():
        async with net.client() as client:
            assert (await stake(client, w["v0"], 200)).success

    asyncio.run(top_up())
    start = net.advance_past_registration()

    async def go():
        async with net.client() as client:
            await _set(client, w["v0"], {2: 1.0})
            await _set(client, w["v1"], {3: 1.0})
            net.clock.advance(52)  # block start + 52: v0 last set weights 52 blocks ago
            await _set(client, w["v1"], {3: 1.0})  # v1 stays active
            both = await client.subnets.metagraph(2)
            net.clock.advance(4)  # start + 56 > start + 55: v0 is inactive
            alone = await client.subnets.metagraph(2)
            return both, alone

    both, alone = asyncio.run(go())
    assert both.block == start + 52 and alone.block == start + 56
    # Both active: miner 2's median is 1 (v0 holds .75 of the stake), miner 3's is 0.
    assert [stored(n.incentive) for n in both.neurons] == [0, 0, U16, 0]
    # v0 inactive: the active stake is v1's alone, its weights are the consensus.
    assert [n.active for n in alone.neurons][:2] == [False, True]
    assert [stored(n.incentive) for n in alone.neurons] == [0, 0, 0, U16]


def _lone_validator(tmp_path):
    """v0 (uid 0) weights miner 1 fully on a Yuma3 subnet (tempo 4, so the activity cutoff is
    55 blocks: 13 epochs), set at an epoch block; returns the devnet."""
    net = make_devnet(tmp_path, clock=StepClock(), tempo=4, weights_rate_limit=3,
                      validators=("v0",), miners=("m1",), commit_reveal_weights_enabled=False)
    v0 = bt.wallets.open_wallet("v0", path=str(net.wallets))
    net.advance_past_registration()

    async def go():
        async with net.client() as client:
            await _set(client, v0, {1: 1.0})

    asyncio.run(go())
    return net


def _bond(net) -> int:
    async def go():
        async with net.client() as client:
            return await client.read("bonds", netuid=2)

    bonds = asyncio.run(go())
    return stored(bonds[0][1]) if bonds else 0


def test_missed_epochs_each_take_one_step_of_the_bond_ema(tmp_path):
    """Ten epochs fall due with nothing written between them: the read runs them one by one, as
    the chain does (each reads the bonds the one before stored), not as one."""
    net = _lone_validator(tmp_path)
    net.clock.advance(40)  # epochs at +4 .. +40, every one within v0's activity cutoff
    # Yuma3 with W_b = 1: b <- floor((.1 * 1 + .9 * b / 65535) * 65535), from no bond.
    expected = 0
    for _ in range(10):
        expected = u16(.1 + .9 * expected / U16)
    assert expected > u16(.6)  # 1 - .9^10 = .65: far from one step's .1
    assert _bond(net) == expected


def test_settled_bonds_still_replay_the_epochs_after_a_validator_goes_inactive(tmp_path):
    """A bond of 65535 on a weight of 1 is Yuma3's fixed point (.1 + .9 = 1), so the epochs that
    follow change nothing, until v0's weights age past the activity cutoff: from then on its
    stake votes for nothing and each epoch decays the bond by .9. Thirty epochs due at one
    read: 13 active ones keep 65535, the 17 after decay it 17 times (collapsing once the bond
    looked settled would decay it once)."""
    net = _lone_validator(tmp_path)
    with contextlib.closing(net.open()) as store, store.transaction() as conn:
        conn.execute("INSERT INTO bonds (netuid, uid, dest, value) VALUES (2, 0, 1, ?)", (U16,))
    net.clock.advance(120)  # epochs at 4k blocks after the weights, k = 1..30
    # Active while 55 >= 4k: k <= 13. Inactive: no active stake, no consensus,
    # W_b = 0, so b <- floor(.9 * b) in u16 fractions.
    expected = U16
    for _ in range(30 - 13):
        expected = u16(.9 * expected / U16)
    assert _bond(net) == expected
