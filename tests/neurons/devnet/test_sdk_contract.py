"""Contract tests: the REAL bittensor 11 ``Client`` (intents, executor, reads,
metagraph decoding) against the devnet's Substrate. An SDK upgrade that reads
new storage, changes the metagraph dict shape or the intent call shapes must
fail here.
"""

from __future__ import annotations

import asyncio
import contextlib

import bittensor as bt
import pytest
from bittensor.result import ChainError, ErrorCode

from neurons.devnet.substrate import DevnetSubstrate
from tests.support.devnet import StepClock, make_devnet, register, stake


def run(coro):
    return asyncio.run(coro)


async def _populated(devnet, wallets):
    """validator (stake 100, permit) uid 0, miner uid 1; returns an open client."""
    client = await devnet.client().connect()
    for name in ("validator", "miner"):
        assert (await register(client, wallets[name])).success
    assert (await stake(client, wallets["validator"], 100)).success
    devnet.permit(2, wallets["validator"])
    devnet.advance_past_registration()
    return client


def test_metagraph_decodes_every_field_the_neurons_use(devnet, wallets):
    """client.subnets.metagraph decodes uid, keys, stake, permit, axon, incentive, last_update."""

    async def go():
        client = await _populated(devnet, wallets)
        result = await client.execute(bt.ServeAxon(netuid=2, ip="10.0.0.7", port=8091), wallets["miner"])
        assert result.success, result.message
        graph = await client.subnets.metagraph(2)
        await client.close()
        # Read the state directly: the devnet does not serve BlockAtRegistration.
        with contextlib.closing(devnet.open()) as store, store.transaction() as conn:
            (registered,) = conn.execute(
                "SELECT registered_at FROM neurons WHERE netuid = 2 AND uid = 0"
            ).fetchone()
        return graph, registered

    graph, registered = run(go())
    assert graph.netuid == 2 and graph.tempo == 4 and len(graph.neurons) == 2
    v, m = graph.neurons
    assert (v.uid, v.hotkey, v.coldkey) == (
        0, wallets["validator"].hotkeypub.ss58_address, wallets["validator"].coldkeypub.ss58_address
    )
    assert int(v.total_stake.rao) == 100 * 10**9 and v.validator_permit is True
    assert m.uid == 1 and m.validator_permit is False and m.axon == "10.0.0.7:8091"
    # LastUpdate starts at the registration block (subtensor uids.rs::append_neuron).
    assert v.axon is None and v.last_update == registered >= 1 and m.incentive == 0.0


def test_metagraph_of_missing_subnet_is_none(devnet):
    async def go():
        async with devnet.client() as client:
            return await client.subnets.metagraph(7)

    assert run(go()) is None


def test_registration_assigns_sequential_uids_and_rejects_duplicates(devnet, wallets):
    """burned_register via submit_call (coldkey-signed): uid 0, 1; a second try is rejected."""

    async def go():
        async with devnet.client() as client:
            first = await register(client, wallets["validator"])
            second = await register(client, wallets["miner"])
            again = await register(client, wallets["miner"])
            uid = await client.query(("SubtensorModule", "Uids"), [2, wallets["miner"].hotkeypub.ss58_address])
            return first, second, again, uid

    first, second, again, uid = run(go())
    assert first.success and second.success and uid == 1
    assert not again.success and again.error.name == "HotKeyAlreadyRegisteredInSubNet"


def test_registration_on_missing_subnet_is_rejected_and_writes_nothing(devnet, wallets):
    before = devnet.dump()

    async def go():
        async with devnet.client() as client:
            return await register(client, wallets["miner"], netuid=9)

    result = run(go())
    assert not result.success and result.error.name == "SubnetNotExists"
    assert devnet.dump() == before


def test_serve_axon_for_unregistered_hotkey_is_rejected_and_writes_nothing(devnet, wallets):
    async def go():
        async with devnet.client() as client:
            before = devnet.dump()
            result = await client.execute(
                bt.ServeAxon(netuid=2, ip="10.0.0.8", port=9000), wallets["outsider"]
            )
            return before, result

    before, result = run(go())
    assert not result.success and result.error.name == "HotKeyNotRegisteredInNetwork"
    assert devnet.dump() == before


def test_set_weights_is_stored_and_read_back_through_the_sdk(devnet, wallets):
    """SetWeights (plaintext path: CommitRevealWeightsEnabled is false) writes the row and LastUpdate."""

    async def go():
        client = await _populated(devnet, wallets)
        result = await client.execute(
            bt.SetWeights(netuid=2, weights={1: 3.0, 0: 1.0}, version_key=0), wallets["validator"]
        )
        rows = await client.read("weights", netuid=2)
        last = await client.query(("SubtensorModule", "LastUpdate"), [2])
        block = await client.block()
        await client.close()
        return result, rows, last, block

    result, rows, last, block = run(go())
    assert result.success, result.message
    assert rows[0] == pytest.approx({0: 0.25, 1: 0.75}, abs=1e-4)
    assert last[0] == block


def test_set_weights_inside_rate_limit_is_refused_by_sdk_preflight_and_by_the_chain(devnet, wallets):
    """Second set within WeightsSetRateLimit: the SDK preflight raises RATE_LIMITED; a raw
    call that skips the preflight is rejected on chain (SettingWeightsTooFast); nothing written."""

    async def go():
        client = await _populated(devnet, wallets)
        ok = await client.execute(bt.SetWeights(netuid=2, weights={1: 1.0}), wallets["validator"])
        devnet.clock.advance(1)
        before = devnet.dump()
        with pytest.raises(ChainError) as caught:
            await client.execute(bt.SetWeights(netuid=2, weights={0: 1.0, 1: 1.0}), wallets["validator"])
        raw = bt.calls.SubtensorModule.set_mechanism_weights(
            netuid=2, mecid=0, dests=[0, 1], weights=[1, 1], version_key=0
        )
        rejected = await client.submit_call(raw, wallets["validator"], signer="hotkey")
        after = devnet.dump()
        devnet.clock.advance(3)
        later = await client.execute(bt.SetWeights(netuid=2, weights={0: 1.0, 1: 1.0}), wallets["validator"])
        await client.close()
        return ok, caught.value, rejected, before, after, later

    ok, preflight, rejected, before, after, later = run(go())
    assert ok.success
    assert preflight.code == ErrorCode.RATE_LIMITED
    assert not rejected.success and rejected.error.name == "SettingWeightsTooFast"
    assert before == after
    assert later.success, later.message


def test_set_weights_without_validator_permit_is_rejected_and_writes_nothing(devnet, wallets):
    async def go():
        client = await _populated(devnet, wallets)
        before = devnet.dump()
        result = await client.execute(bt.SetWeights(netuid=2, weights={0: 1.0}), wallets["miner"])
        await client.close()
        return before, result

    before, result = run(go())
    assert not result.success and result.error.name == "NeuronNoValidatorPermit"
    assert devnet.dump() == before


def test_set_weights_by_unregistered_hotkey_is_refused_before_signing(devnet, wallets):
    async def go():
        async with devnet.client() as client:
            with pytest.raises(ChainError) as caught:
                await client.execute(bt.SetWeights(netuid=2, weights={0: 1.0}), wallets["outsider"])
            return caught.value

    assert run(go()).code == ErrorCode.NOT_REGISTERED


def test_epoch_gives_the_stake_majoritys_miner_all_the_incentive_when_validators_disagree(devnet, wallets):
    """Two permitted validators (stake 300 and 100) vote for different miners; Yuma's consensus
    is the stake-weighted median per miner (kappa 0.5): 1 for the majority's miner, 0 for the
    other, so the minority's weight is clipped to 0 and the majority's miner takes it all."""

    async def go():
        client = await devnet.client().connect()
        for name in ("validator", "validator2", "miner", "miner2"):
            assert (await register(client, wallets[name])).success
        assert (await stake(client, wallets["validator"], 300)).success
        assert (await stake(client, wallets["validator2"], 100)).success
        devnet.permit(2, wallets["validator"])
        devnet.permit(2, wallets["validator2"])
        devnet.advance_past_registration()
        v1 = await client.execute(bt.SetWeights(netuid=2, weights={2: 1.0}), wallets["validator"])
        v2 = await client.execute(bt.SetWeights(netuid=2, weights={3: 1.0}), wallets["validator2"])
        assert v1.success and v2.success
        devnet.clock.advance(4)
        graph = await client.subnets.metagraph(2)
        await client.close()
        return graph

    graph = run(go())
    incentive = [n.incentive for n in graph.neurons]
    assert incentive == pytest.approx([0.0, 0.0, 1.0, 0.0], abs=1e-4)


class _Impostor:
    """Claims the validator hotkey's address but signs with another key."""

    def __init__(self, claimed, real_signer):
        self.ss58_address = claimed.ss58_address
        self.public_key = claimed.public_key
        self.crypto_type = claimed.crypto_type
        self._real = real_signer

    def sign(self, payload):
        return self._real.sign(payload)


def test_extrinsic_signed_by_a_different_key_than_claimed_is_rejected(devnet, wallets):
    """The devnet verifies the signature against the claimed address (BadProof); nothing written."""

    async def go():
        client = await _populated(devnet, wallets)
        impostor = _Impostor(wallets["validator"].hotkeypub, wallets["outsider"].hotkey)
        raw = bt.calls.SubtensorModule.set_mechanism_weights(
            netuid=2, mecid=0, dests=[1], weights=[65535], version_key=0
        )
        before = devnet.dump()
        result = await client.submit_call(raw, impostor)
        await client.close()
        return before, result

    before, result = run(go())
    assert not result.success and result.error.name == "BadProof"
    assert devnet.dump() == before


def test_unsupported_calls_fail_at_compose_with_a_devnet_error(devnet, wallets):
    async def go():
        async with devnet.client() as client:
            with pytest.raises(ChainError, match="devnet does not support"):
                await client.submit_call(
                    bt.calls.SubtensorModule.serve_prometheus(netuid=2, version=1, ip=1, port=1, ip_type=4),
                    wallets["miner"],
                )

    run(go())


def test_devnet_substrate_implements_every_member_of_the_sdk_protocol():
    """A member added to bittensor.Substrate in an SDK upgrade must be added to the devnet."""
    from bittensor._substrate import Substrate

    from neurons.devnet.substrate import DevnetSubstrate

    members = {
        name for name in vars(Substrate)
        if not name.startswith("_") and name not in ("token_symbols",)
    } | set(Substrate.__annotations__)
    missing = [
        name for name in sorted(members)
        if name != "token_symbols" and not hasattr(DevnetSubstrate, name)
    ]
    assert missing == []


def test_client_wait_for_block_follows_wall_time(tmp_path):
    """client.wait_for_block streams blocks from the devnet's polling subscription."""
    from neurons.devnet.store import Store
    from neurons.devnet.substrate import DevnetSubstrate

    async def go():
        store = Store(tmp_path / "fast.sqlite", block_time=0.05, create=True)
        async with bt.Client("devnet", substrate=DevnetSubstrate(store)) as client:
            start = await client.block()
            header = await client.wait_for_block(start + 2, timeout=30)
            return start, header.number

    start, reached = run(go())
    assert reached >= start + 2


def test_all_zero_weights_are_refused_by_the_sdk_before_signing(devnet, wallets):
    async def go():
        client = await _populated(devnet, wallets)
        before = devnet.dump()
        with pytest.raises(bt.BittensorError, match="zero"):
            await client.execute(bt.SetWeights(netuid=2, weights={1: 0.0}), wallets["validator"])
        await client.close()
        return before

    assert run(go()) == devnet.dump()


def test_malformed_call_parameters_are_a_failed_result_and_write_nothing(devnet, wallets):
    async def go():
        client = await _populated(devnet, wallets)
        before = devnet.dump()
        bad = bt.calls.SubtensorModule.serve_axon(
            netuid=2, version=1, ip="not-a-number", port=80, ip_type=4, protocol=4,
            placeholder1=0, placeholder2=0,
        )
        result = await client.submit_call(bad, wallets["miner"], signer="hotkey")
        await client.close()
        return before, result

    before, result = run(go())
    assert not result.success and result.error.name == "InvalidCall"
    assert devnet.dump() == before


# --- the SDK reads of issue 9 item 4 --------------------------------------------


def test_immunity_and_reveal_period_read_subtensors_defaults(devnet):
    """ImmunityPeriod 4096 (SubtensorInitialImmunityPeriod), RevealPeriodEpochs 1 (DefaultRevealPeriodEpochs)."""

    async def go():
        async with devnet.client() as client:
            return (await client.read("immunity_period", netuid=2),
                    await client.read("reveal_period", netuid=2))

    assert run(go()) == (4096, 1)


def test_subnet_hyperparameters_come_from_the_subnet_row_and_none_for_a_missing_subnet(tmp_path):
    net = make_devnet(tmp_path, clock=StepClock(), tempo=7, weights_rate_limit=5, min_allowed_weights=2,
                      max_weights_limit=30000, weights_version_key=9, max_allowed_validators=3,
                      commit_reveal_period=3)

    async def go():
        async with net.client() as client:
            return (await client.read("subnet_hyperparameters", netuid=2),
                    await client.read("subnet_hyperparameters", netuid=7))

    params, missing = run(go())
    assert params == {
        "immunity_period": 4096, "min_allowed_weights": 2, "max_weights_limit": 30000, "tempo": 7,
        "weights_version": 9, "weights_rate_limit": 5, "commit_reveal_period": 3,
        # On unless the subnet was created without it (DefaultCommitRevealWeightsEnabled).
        "commit_reveal_weights_enabled": True,
        # the epoch's: subtensor's defaults (kappa, bonds EMA, cutoff factor), the cutoff in
        # blocks from the tempo (13889 * 7 // 1000), and the subnet's max_validators.
        "kappa": 32767, "bonds_moving_avg": 900000, "activity_cutoff_factor": 13889,
        "activity_cutoff": 97, "max_validators": 3,
        # get_subnet_hyperparams_v3: 3 when Yuma3On, which a new subnet has (init_new_network).
        "yuma_version": 3,
    }
    assert missing is None


def test_neurons_lite_and_full_carry_keys_stake_permit_and_the_full_ones_weights(devnet, wallets):
    async def go():
        client = await _populated(devnet, wallets)
        result = await client.execute(bt.SetWeights(netuid=2, weights={1: 1.0}), wallets["validator"])
        assert result.success, result.message
        lite = await client.read("neurons", netuid=2)
        full = await client.read("neurons", netuid=2, lite=False)
        missing = await client.read("neurons", netuid=7)
        block = await client.block()
        await client.close()
        return lite, full, missing, block

    lite, full, missing, block = run(go())
    v, m = lite
    assert (v.uid, v.hotkey, v.coldkey) == (
        0, wallets["validator"].hotkeypub.ss58_address, wallets["validator"].coldkeypub.ss58_address
    )
    assert v.validator_permit and int(v.total_stake.rao) == 100 * 10**9 and v.last_update == block
    assert (m.uid, m.validator_permit, int(m.total_stake.rao)) == (1, False, 0)
    assert 0 < m.last_update < v.last_update  # the miner's registration block; the validator's weights
    assert "weights" not in v.raw
    assert [n.uid for n in full] == [0, 1]
    assert full[0].raw["weights"] == [(1, 65535)] and full[0].raw["bonds"] == []
    assert missing == []


def test_blocks_since_last_step_and_until_next_epoch_follow_last_epoch_block_and_tempo(devnet):
    async def go():
        async with devnet.client() as client:
            last = await client.query(("SubtensorModule", "LastEpochBlock"), [2])
            seen = []
            for _ in range(6):  # tempo 4: crosses one boundary, which no write has committed
                seen.append((await client.block(), await client.read("blocks_since_last_step", netuid=2),
                             await client.read("blocks_until_next_epoch", netuid=2)))
                devnet.clock.advance(1)
            return last, seen

    last, seen = run(go())
    for block, since, until in seen:
        epoch = last + 4 * ((block - last) // 4)
        assert (since, until) == (block - epoch, epoch + 4 - block)
    assert [since for _, since, _ in seen] == [0, 1, 2, 3, 0, 1]


def test_bonds_are_the_epochs_and_a_subnet_without_commit_reveal_keeps_no_commits(devnet, wallets):
    async def go():
        client = await _populated(devnet, wallets)
        result = await client.execute(bt.SetWeights(netuid=2, weights={1: 1.0}), wallets["validator"])
        assert result.success, result.message
        devnet.clock.advance(8)  # past an epoch boundary
        reads = (await client.read("weights", netuid=2), await client.read("bonds", netuid=2),
                 await client.read("timelocked_weight_commits", netuid=2))
        await client.close()
        return reads

    weights, bonds, commits = run(go())
    assert weights == {0: {1: 1.0}}  # set in plaintext (the fixture's subnet has commit-reveal off)
    # One validator, one miner, Yuma3 (a new subnet's): the bond is the EMA of its weight 1, one
    # step per epoch, two epochs by the read: floor(.1 * 65535) = 6553, then
    # floor((.1 + .9 * 6553 / 65535) * 65535) = floor(6553.5 + 5897.7) = 12451.
    assert bonds == {0: {1: 12451 / 65535}} and commits == {}


def test_storage_and_runtime_apis_the_devnet_does_not_model_still_fail_loudly(devnet):
    async def go():
        async with devnet.client() as client:
            with pytest.raises(ChainError, match="devnet does not support storage"):
                await client.read("difficulty", netuid=2)
            with pytest.raises(ChainError, match="devnet does not support storage map"):
                await client.query_map(("SubtensorModule", "Alpha"), [])
        substrate = DevnetSubstrate(devnet.open())
        try:
            with pytest.raises(ChainError, match="devnet does not support runtime API"):
                await substrate.runtime_call("DelegateInfoRuntimeApi", "get_delegates", [])
        finally:
            await substrate.close()

    run(go())


def test_a_new_uid_waits_out_the_weights_rate_limit_from_its_registration_block(devnet, wallets):
    """LastUpdate is set to the registration block (subtensor uids.rs::append_neuron), so a
    permitted validator's first weights right after registering are SettingWeightsTooFast;
    ``weights_rate_limit`` (3) blocks later they land."""

    async def go():
        client = await devnet.client().connect()
        assert (await register(client, wallets["validator"])).success
        assert (await stake(client, wallets["validator"], 100)).success
        devnet.permit(2, wallets["validator"])
        registered = await client.block()
        last = await client.query(("SubtensorModule", "LastUpdate"), [2])
        raw = bt.calls.SubtensorModule.set_mechanism_weights(
            netuid=2, mecid=0, dests=[0], weights=[1], version_key=0
        )
        devnet.clock.advance(2)
        early = await client.submit_call(raw, wallets["validator"], signer="hotkey")
        devnet.clock.advance(1)
        later = await client.submit_call(raw, wallets["validator"], signer="hotkey")
        await client.close()
        return registered, last, early, later

    registered, last, early, later = run(go())
    assert last == [registered]
    assert not early.success and early.error.name == "SettingWeightsTooFast"
    assert later.success, later.message
