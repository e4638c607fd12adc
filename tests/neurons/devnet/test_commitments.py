"""Contract tests of the Commitments pallet on the devnet: the REAL bittensor 11 SDK writes a
commitment (``Commitments.set_commitment``, signed by the hotkey) and reads it back with its own
reads (``client.identity.commitment``, ``client.subnets.commitments``), under subtensor's rules
(pallets/commitments/src/lib.rs, runtime/src/lib.rs): who may commit, how many fields, how many
bytes per epoch."""

from __future__ import annotations

import asyncio

import bittensor as bt

from neurons.devnet.storage import ZERO_ACCOUNT
from tests.support.devnet import StepClock, make_devnet


def run(coro):
    return asyncio.run(coro)


async def _commit(client: bt.Client, wallet: bt.Wallet, fields: list, netuid: int = 2) -> bt.ExtrinsicResult:
    call = bt.calls.Commitments.set_commitment(netuid=netuid, info={"fields": fields})
    return await client.submit_call(call, wallet, signer="hotkey")


def _devnet(tmp_path, **params):
    return make_devnet(tmp_path, clock=StepClock(), miners=("miner",), unregistered=("outsider",),
                       tempo=10, commit_reveal_weights_enabled=False, **params)


def _wallet(net, name):
    return bt.Wallet(name, "default", path=str(net.wallets))


def test_a_commitment_set_through_the_sdk_reads_back_through_its_own_reads(tmp_path):
    net = _devnet(tmp_path)
    miner = _wallet(net, "miner")
    hotkey = miner.hotkeypub.ss58_address

    async def go():
        async with net.client() as client:
            block = await client.block()
            result = await _commit(client, miner, [{"Raw5": b"hello"}, {"Sha256": bytes(range(32))}])
            one = await client.identity.commitment(2, hotkey)
            every = await client.subnets.commitments(2)
            last = await client.query(("Commitments", "LastCommitment"), [2, hotkey])
            return block, result, one, every, last

    block, result, one, every, last = run(go())
    assert result.success, result.message
    assert one.block == block == last and int(one.deposit.rao) == 0
    assert one.data == "hello"  # the SDK joins the Raw fields as utf-8
    assert one.fields == [{"Raw5": "0x" + b"hello".hex()}, {"Sha256": "0x" + bytes(range(32)).hex()}]
    assert list(every) == [hotkey] and every[hotkey].uid == 0


def test_a_new_commitment_replaces_the_old_one_and_moves_its_block(tmp_path):
    net = _devnet(tmp_path)
    miner = _wallet(net, "miner")

    async def go():
        async with net.client() as client:
            assert (await _commit(client, miner, [{"Raw3": b"one"}])).success
            net.clock.advance(3)
            assert (await _commit(client, miner, [{"BigRaw": b"two"}])).success
            return await client.block(), await client.identity.commitment(2, miner.hotkeypub.ss58_address)

    block, one = run(go())
    assert one.block == block and one.fields == [{"BigRaw": "0x" + b"two".hex()}]


def test_a_hotkey_not_registered_on_the_subnet_may_not_commit_and_nothing_is_written(tmp_path):
    net = _devnet(tmp_path)
    outsider = _wallet(net, "outsider")
    before = net.dump()

    async def go():
        async with net.client() as client:
            here = await _commit(client, outsider, [{"Raw2": b"hi"}])
            missing_subnet = await _commit(client, _wallet(net, "miner"), [{"Raw2": b"hi"}], netuid=9)
            return here, missing_subnet

    here, missing_subnet = run(go())
    assert not here.success and here.error.name == "AccountNotAllowedCommit"
    assert not missing_subnet.success and missing_subnet.error.name == "AccountNotAllowedCommit"
    assert net.dump() == before


def test_more_than_three_fields_are_refused(tmp_path):
    net = _devnet(tmp_path)

    async def go():
        async with net.client() as client:
            return await _commit(client, _wallet(net, "miner"), [{"Raw1": b"a"}] * 4)

    result = run(go())
    assert not result.success and result.error.name == "TooManyFieldsInCommitmentInfo"


def test_fields_larger_than_their_variant_are_refused_as_the_encoder_would(tmp_path):
    net = _devnet(tmp_path)
    miner = _wallet(net, "miner")

    async def go():
        async with net.client() as client:
            return [
                await _commit(client, miner, [{"Raw4": b"abc"}]),
                await _commit(client, miner, [{"Raw129": bytes(129)}]),
                await _commit(client, miner, [{"BigRaw": bytes(513)}]),
                await _commit(client, miner, [{"Sha256": bytes(31)}]),
                await _commit(client, miner, [{"Blob": b"x"}]),
            ]

    for result in run(go()):
        assert not result.success and result.error.name == "InvalidCall", result.message


def test_each_commitment_uses_at_least_100_bytes_of_3100_per_epoch_then_the_space_is_new(tmp_path):
    """31 one-byte commitments fill an epoch (each is charged the minimum 100 bytes); the 32nd
    is SpaceLimitExceeded; after the subnet's next epoch the account starts from 0 again."""
    net = _devnet(tmp_path)
    miner = _wallet(net, "miner")
    hotkey = miner.hotkeypub.ss58_address

    async def go():
        async with net.client() as client:
            for _ in range(31):
                result = await _commit(client, miner, [{"Raw1": b"x"}])
                assert result.success, result.message
            used = await client.query(("Commitments", "UsedSpaceOf"), [2, hotkey])
            refused = await _commit(client, miner, [{"Raw1": b"x"}])
            net.clock.advance(10)  # one tempo: the next epoch
            again = await _commit(client, miner, [{"BigRaw": bytes(512)}] * 3)
            used_after = await client.query(("Commitments", "UsedSpaceOf"), [2, hotkey])
            max_space = await client.query(("Commitments", "MaxSpace"), [])
            return used, refused, again, used_after, max_space

    used, refused, again, used_after, max_space = run(go())
    assert used["used_space"] == 3100 and max_space == 3100
    assert not refused.success and refused.error.name == "SpaceLimitExceeded"
    assert again.success, again.message
    assert used_after == {"last_epoch": used["last_epoch"] + 1, "used_space": 1536}


def test_the_subnet_owner_hotkey_reads_the_owner_or_the_zero_account(tmp_path):
    owned = make_devnet(tmp_path / "a", clock=StepClock(), miners=("owner",), owner="owner")
    unowned = make_devnet(tmp_path / "b", clock=StepClock())

    async def read(net):
        async with net.client() as client:
            return (await client.query(("SubtensorModule", "SubnetOwnerHotkey"), [2]),
                    await client.query(("SubtensorModule", "SubnetOwnerHotkey"), [7]))

    owner = _wallet(owned, "owner")
    assert run(read(owned)) == (owner.hotkeypub.ss58_address, ZERO_ACCOUNT)
    assert run(read(unowned)) == (ZERO_ACCOUNT, ZERO_ACCOUNT)


def test_nothing_committed_reads_none_and_an_empty_map(tmp_path):
    net = _devnet(tmp_path)
    hotkey = _wallet(net, "miner").hotkeypub.ss58_address

    async def go():
        async with net.client() as client:
            return (await client.identity.commitment(2, hotkey), await client.subnets.commitments(2),
                    await client.identity.revealed_commitment(2, hotkey))

    assert run(go()) == (None, {}, None)
