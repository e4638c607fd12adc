"""One weight write, from the validator's averages to a real devnet, counted at the SDK's
``Substrate`` seam (``CountingSubstrate``): the intent scoring builds is the one submitted,
the validator and ``Chain`` read nothing themselves, and nothing is read twice except the
two re-reads inside ``bt.Client.execute`` that this project does not bypass.
"""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest

from neurons.chain import connect
from neurons.devnet.substrate import DevnetSubstrate
from neurons.shared.version import VERSION_KEY
from neurons.validating import scoring
from neurons.validating.loop import Validator
from neurons.validating.replay_guard import ReplayGuard
from neurons.validating.state import StateStore, ValidatorState
from tests.support.devnet import CountingSubstrate
from tests.support.provers import CIRCUIT_A, FakeCircuit, FakeVerifier

NETUID = 2
# The SDK's plan preview inside execute (SetWeights.effects / .warnings) reads these again
# after its preflight read them: the only repeats allowed in one write.
SDK_PREVIEW_REREADS = {
    ("query", "SubtensorModule", "CommitRevealWeightsEnabled", (NETUID,), ()): 2,
    ("query", "SubtensorModule", "MaxWeightsLimit", (NETUID,), ()): 2,
}


class Setup:
    """On the suite's ``devnet`` (tempo 4, weights rate limit 3): validator (uid 0, staked,
    permitted) and miners miner, miner2 (uids 1, 2); a real ``Chain`` on a
    ``CountingSubstrate``; a ``Validator`` whose averages favour miner2."""

    def __init__(self, devnet, tmp_path, wallets):
        assert devnet.netuid == NETUID
        self.devnet = devnet
        self.tmp_path = tmp_path
        self.wallets = wallets
        self.substrate = CountingSubstrate(DevnetSubstrate(self.devnet.open()))
        self.executed: list = []

    async def start(self) -> Validator:
        self.chain = chain = await connect("devnet", substrate=self.substrate)
        for name in ("validator", "miner", "miner2"):
            assert (await chain.register(self.wallets[name], NETUID)).ok
        assert (await chain.add_stake(self.wallets["validator"], NETUID, 10.0)).ok
        self.devnet.permit(NETUID, self.wallets["validator"])
        self.devnet.advance_past_registration()
        execute = chain.client.execute

        async def tagged(intent, wallet, **kwargs):
            # Reads made while the SDK executes are the SDK's; the rest are ours.
            self.executed.append(intent)
            self.substrate.tag = "sdk"
            try:
                return await execute(intent, wallet, **kwargs)
            finally:
                self.substrate.tag = ""

        chain.client.execute = tagged
        store = StateStore(self.tmp_path / "state" / "state.json")
        hotkeys = {1: self.wallets["miner"].hotkeypub.ss58_address, 2: self.wallets["miner2"].hotkeypub.ss58_address}
        store.save(ValidatorState(averages={1: 0.2, 2: 0.6}, hotkeys=hotkeys))
        return Validator(
            wallet=self.wallets["validator"], chain=chain, netuid=NETUID,
            circuits=[FakeCircuit(CIRCUIT_A, "fake-a", timeout_s=1.0)],
            client=None,  # type: ignore[arg-type]  # no miner is challenged here
            verify=FakeVerifier(), store=store, guard=ReplayGuard(), version_key=VERSION_KEY,
        )

    async def write(self, validator: Validator):
        """One weight write as a round makes it: the round's metagraph read first, then
        ``maybe_set_weights``; returns its result and the reads of the write alone
        (``substrate.submits`` and ``executed`` also count from the write's start)."""
        view = await self.chain.metagraph(NETUID)
        self.substrate.reads.clear()
        self.substrate.submits = 0
        self.executed.clear()
        result = await validator.maybe_set_weights(view)
        return result, list(self.substrate.reads)


@pytest.fixture
def setup(devnet, tmp_path, wallets):
    # The chain's close (each test's last step) closes the substrate and its store.
    return Setup(devnet, tmp_path, wallets)


def repeats(reads) -> dict:
    return {key: n for key, n in Counter(key for _, key in reads).items() if n > 1}


def test_one_weight_write_submits_the_scoring_intent_and_reads_nothing_twice(setup):
    async def go():
        validator = await setup.start()
        result, reads = await setup.write(validator)
        stored = await setup.chain.weights_of(NETUID, 0)
        await setup.chain.close()
        return validator, result, reads, stored

    validator, result, reads, stored = asyncio.run(go())
    assert result is not None and result.ok, result
    # As the loop builds it: fitted to the subnet's limits (the suite's devnet binds none).
    fitted = scoring.conform_weights({1: 0.2, 2: 0.6}, scoring.WeightLimits(1), registered=(0, 1, 2), own_uid=0)
    expected = scoring.weights_intent(fitted.weights, NETUID, VERSION_KEY)
    assert setup.executed == [expected] and expected.uids == [1, 2]
    assert stored == pytest.approx({1: 0.25, 2: 0.75}, abs=1e-4)
    assert [key for tag, key in reads if tag != "sdk"] == []
    assert repeats(reads) == SDK_PREVIEW_REREADS
    assert setup.substrate.submits == 1
    assert validator.state.last_weights_block == result.block


def test_a_write_inside_the_rate_limit_is_decided_once_and_signs_nothing(setup):
    """The SDK preflight refuses (its one read of the rate limit and LastUpdate): nothing is
    read outside it, nothing twice, nothing is signed, and the validator reports no write."""

    async def go():
        validator = await setup.start()
        first, _ = await setup.write(validator)
        setup.devnet.clock.advance(1)
        second, reads = await setup.write(validator)
        await setup.chain.close()
        return first, second, reads, setup.substrate.submits

    first, second, reads, signed = asyncio.run(go())
    assert first is not None and first.ok
    assert second is None and signed == 0
    assert [key for tag, key in reads if tag != "sdk"] == []
    assert repeats(reads) == {}
    names = [key[2] for _, key in reads if key[0] == "query"]
    assert names.count("WeightsSetRateLimit") == 1 and names.count("LastUpdate") == 1


def test_weights_set_through_the_sdk_are_read_back_as_written_the_next_round(setup, caplog):
    """End to end on the plaintext devnet: round 1 writes through the real SDK, round 2 reads
    the stored u16 row back, equal to what the SDK submitted: landed, no warning, no alarm."""
    import logging

    async def go():
        validator = await setup.start()
        first = await validator.run_round()
        pending = validator.state.weights_check
        setup.devnet.clock.advance(1)
        with caplog.at_level(logging.INFO, logger="validator"):
            await validator.run_round()
        row = await setup.chain.weights_row(NETUID, 0)
        await setup.chain.close()
        return validator, first, pending, row

    validator, first, pending, row = asyncio.run(go())
    assert first.weights is not None and first.weights.ok and first.weights.reveal_round is None
    assert pending is not None and pending.writes[0].block == first.weights.block
    assert row == pending.writes[0].row and len(row) == 2
    assert f"weights of block {first.weights.block} landed as written" in caplog.text
    assert "NOT ON CHAIN" not in caplog.text
    sample = validator.metrics.registry.get_sample_value
    assert sample("poi_weight_checks_total", {"outcome": "landed", "reason": "none"}) == 1
    assert sample("poi_weights_unconfirmed") == 0
    assert validator.state.weights_check is None or validator.state.weights_check.writes[0].block > first.weights.block
