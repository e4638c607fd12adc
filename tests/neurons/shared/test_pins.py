"""The subnet owner's circuit pin: published and read back through the real SDK on the devnet,
and followed by a daemon's ``PinWatcher`` (what runs, what is logged, a pin changing mid-run)."""

from __future__ import annotations

import asyncio
import logging

import bittensor as bt
import pytest

from neurons.chain import Commitment, connect
from neurons.devnet.substrate import DevnetSubstrate
from neurons.shared.pins import PinWatcher, compare, pin_set_of, publish_pin, read_pin
from protocol import PinnedCircuit, PinSet, encode_pin
from tests.support.chain import FakeChain, neuron
from tests.support.devnet import StepClock, make_devnet

OWNER = "5" + "O" * 47


def run(coro):
    return asyncio.run(coro)


async def _chain(net):
    return await connect("devnet", substrate=DevnetSubstrate(net.open()))


def test_the_owner_publishes_the_pin_and_it_reads_back_through_the_sdk(tmp_path, registry):
    net = make_devnet(tmp_path, clock=StepClock(), miners=("owner",), owner="owner")
    owner = bt.Wallet("owner", "default", path=str(net.wallets))
    circuits = list(registry)

    async def go():
        chain = await _chain(net)
        try:
            block = await chain.block()
            result = await publish_pin(chain, owner, 2, circuits)
            return block, result, await read_pin(chain, 2)
        finally:
            await chain.close()

    block, result, pin = run(go())
    assert result.ok, result.error
    assert result.block == block == pin.block
    assert pin.owner_hotkey == owner.hotkeypub.ss58_address and pin.problem is None
    assert pin.pins == pin_set_of(circuits)
    assert {p.circuit_id: p.vk_sha256 for p in pin.pins.circuits} == {c.id: c.vk_sha256 for c in circuits}


def test_a_hotkey_that_is_not_the_owners_may_not_publish_and_nothing_is_written(tmp_path, registry):
    net = make_devnet(tmp_path, clock=StepClock(), miners=("owner", "miner"), owner="owner")
    miner = bt.Wallet("miner", "default", path=str(net.wallets))
    before = net.dump()

    async def go():
        chain = await _chain(net)
        try:
            return await publish_pin(chain, miner, 2, list(registry)), await read_pin(chain, 2)
        finally:
            await chain.close()

    result, pin = run(go())
    assert not result.ok and "is not the subnet owner's" in result.error
    assert pin.pins is None and pin.block is None
    assert net.dump() == before


def test_a_subnet_without_owner_has_no_pin_and_publishing_names_why(tmp_path, registry):
    net = make_devnet(tmp_path, clock=StepClock(), miners=("miner",))
    miner = bt.Wallet("miner", "default", path=str(net.wallets))

    async def go():
        chain = await _chain(net)
        try:
            return await publish_pin(chain, miner, 2, list(registry)), await read_pin(chain, 2)
        finally:
            await chain.close()

    result, pin = run(go())
    assert not result.ok and "the subnet has no owner" in result.error
    assert pin.owner_hotkey is None and pin.pins is None


# --- the watcher, on a fake chain --------------------------------------------------------


def _fake(registry, *pinned) -> FakeChain:
    chain = FakeChain(netuid=2, neurons={0: neuron(0, OWNER)}, owner_hotkey=OWNER)
    if pinned:
        _pin(chain, *pinned)
    return chain


def _pin(chain: FakeChain, *circuits, block: int | None = None) -> None:
    fields = encode_pin(pin_set_of(circuits))
    decoded = tuple({k: "0x" + v.hex() for k, v in f.items()} for f in fields)
    chain.commitments[OWNER] = Commitment(OWNER, block or chain.current_block, decoded)


def _watcher(chain, circuits, *, enforce=True):
    return PinWatcher(circuits, chain=chain, netuid=2, network="finney" if enforce else "devnet",
                      enforce=enforce, role="served")


def _two(registry):
    circuits = list(registry)
    assert len(circuits) >= 2, "these tests need two shipped circuits"
    return circuits[0], circuits[1]


def test_with_no_pin_published_every_circuit_runs_and_it_is_said_once(registry, caplog):
    a, b = _two(registry)
    chain = _fake(registry)
    watcher = _watcher(chain, [a, b])
    with caplog.at_level(logging.WARNING, logger="neurons.shared.pins"):
        run(watcher.refresh())
        run(watcher.refresh())
    assert watcher.allows(a.id) and watcher.allows(b.id)
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 1 and "has published no circuit pin" in lines[0]
    assert "python -m neurons.pins publish" in lines[0]


def test_with_no_pin_where_pins_are_not_enforced_the_line_is_info_not_a_warning(registry, caplog):
    a, b = _two(registry)
    watcher = _watcher(_fake(registry), [a, b], enforce=False)
    with caplog.at_level(logging.INFO, logger="neurons.shared.pins"):
        run(watcher.refresh())
    assert [r.levelno for r in caplog.records] == [logging.INFO]
    assert watcher.allows(a.id) and watcher.allows(b.id)


def test_enforced_a_circuit_outside_the_pin_is_not_run_and_is_one_line_naming_it(registry, caplog):
    a, b = _two(registry)
    chain = _fake(registry, a)
    watcher = _watcher(chain, [a, b])
    with caplog.at_level(logging.WARNING, logger="neurons.shared.pins"):
        run(watcher.refresh())
        run(watcher.refresh())  # the same pin again: nothing new to say
    assert watcher.allows(a.id) and not watcher.allows(b.id)
    assert watcher.allowed() == (a,)
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 1
    assert b.name in lines[0] and b.id[:16] in lines[0] and "not served" in lines[0]
    assert "git pull" in lines[0] and a.name not in lines[0]


def test_not_enforced_an_unpinned_circuit_still_runs_and_the_line_says_so(registry, caplog):
    a, b = _two(registry)
    watcher = _watcher(_fake(registry, a), [a, b], enforce=False)
    with caplog.at_level(logging.WARNING, logger="neurons.shared.pins"):
        run(watcher.refresh())
    assert watcher.allows(a.id) and watcher.allows(b.id)
    (line,) = [r.getMessage() for r in caplog.records]
    assert b.name in line and "still served on devnet" in line


def test_a_pin_published_mid_run_takes_effect_at_the_next_poll(registry, caplog):
    a, b = _two(registry)
    chain = _fake(registry, a)
    watcher = _watcher(chain, [a, b])
    run(watcher.refresh())
    assert not watcher.allows(b.id)
    chain.current_block += 50
    _pin(chain, a, b)
    with caplog.at_level(logging.INFO, logger="neurons.shared.pins"):
        run(watcher.refresh())
    assert watcher.allows(a.id) and watcher.allows(b.id)
    assert any("all 2 of ours are in it" in r.getMessage() for r in caplog.records)
    _pin(chain, b, block=chain.current_block + 1)  # and away again
    run(watcher.refresh())
    assert watcher.allows(b.id) and not watcher.allows(a.id)


def test_a_circuit_pinned_with_another_vk_hash_is_not_run(registry, caplog):
    a, b = _two(registry)
    chain = _fake(registry)
    other = PinSet.of([PinnedCircuit(a.id, "0" * 64), PinnedCircuit(b.id, b.vk_sha256)])
    chain.commitments[OWNER] = Commitment(OWNER, 7, tuple(
        {k: "0x" + v.hex() for k, v in f.items()} for f in encode_pin(other)))
    watcher = _watcher(chain, [a, b])
    with caplog.at_level(logging.WARNING, logger="neurons.shared.pins"):
        run(watcher.refresh())
    assert not watcher.allows(a.id) and watcher.allows(b.id)
    (line,) = [r.getMessage() for r in caplog.records]
    assert a.name in line and "vk sha256 0000000000000000" in line


def test_a_commitment_that_is_no_pin_counts_as_no_pin_and_says_why(registry, caplog):
    a, b = _two(registry)
    chain = _fake(registry)
    chain.commitments[OWNER] = Commitment(OWNER, 9, ({"Raw5": "0x" + b"hello".hex()},))
    watcher = _watcher(chain, [a, b])
    with caplog.at_level(logging.WARNING, logger="neurons.shared.pins"):
        run(watcher.refresh())
    assert watcher.allows(a.id) and watcher.allows(b.id)
    (line,) = [r.getMessage() for r in caplog.records]
    assert "is no circuit pin" in line and "block 9" in line


def test_a_failed_poll_keeps_the_last_pin(registry, caplog):
    a, b = _two(registry)
    chain = _fake(registry, a)
    watcher = _watcher(chain, [a, b])
    run(watcher.refresh())
    chain.fail_ops.add("commitment")
    with caplog.at_level(logging.WARNING, logger="neurons.shared.pins"):
        run(watcher.refresh())
    assert watcher.allows(a.id) and not watcher.allows(b.id)
    assert any("keeping the last one" in r.getMessage() for r in caplog.records)


def test_after_the_first_poll_a_poll_is_one_storage_read(registry):
    a, b = _two(registry)

    class Counting(FakeChain):
        owner_reads = 0

        async def subnet_owner_hotkey(self, netuid):
            Counting.owner_reads += 1
            return await super().subnet_owner_hotkey(netuid)

    chain = Counting(netuid=2, neurons={}, owner_hotkey=OWNER)
    _pin(chain, a)
    watcher = _watcher(chain, [a, b])
    for _ in range(3):
        run(watcher.refresh())
    assert (Counting.owner_reads, chain.commitment_reads) == (1, 3)


def test_compare_sorts_local_circuits_into_pinned_unpinned_and_absent(registry):
    a, b = _two(registry)
    stranger = PinnedCircuit("f" * 64, "e" * 64)
    result = compare([a, b], PinSet.of([PinnedCircuit(a.id, a.vk_sha256), stranger]))
    assert result.pinned == (a,) and result.unpinned == (b,) and result.absent == (stranger,)
    assert not result.matches
    assert compare([a], PinSet.of([PinnedCircuit(a.id, a.vk_sha256)])).matches


@pytest.mark.parametrize("network, enforced", [("finney", True), ("test", True), ("wss://node.example:443", True),
                                               ("devnet", False), ("local", False), ("ws://127.0.0.1:9944", False)])
def test_pins_are_enforced_off_this_machine_only(network, enforced):
    from pathlib import Path

    from neurons.shared.settings import ChainSettings

    assert ChainSettings(netuid=2, network=network, devnet_state=Path("x")).enforces_pins is enforced

