"""Reading our weights back (neurons.validating.readback, Validator.check_weights), on FakeChain.

FakeChain keeps the ``Weights`` rows; with commit-reveal on, a landed write is a commit
until the test reveals it (``chain.reveal()``: the chain applied it) or drops it
(``chain.drop_commits()``: the chain's checks refused it at the reveal, silently).
The validator is uid 0 (permitted, staked); uids 1-3 are miners with averages.
"""

from __future__ import annotations

import logging

import pytest

from neurons.shared.version import VERSION_KEY
from neurons.validating import readback
from neurons.validating.loop import Validator
from neurons.validating.replay_guard import ReplayGuard
from neurons.validating.state import StateStore, ValidatorState
from tests.support.cast import NETUID
from tests.support.chain import FakeChain, neuron
from tests.support.observers import RecordingRunLogger
from tests.support.provers import CIRCUIT_A, FakeCircuit, FakeVerifier
from tests.support.wallets import hotkey_of, make_wallet

pytestmark = pytest.mark.anyio

AVERAGES = {1: 0.2, 2: 0.3, 3: 0.5}
TEMPO = 360  # FakeChain's
# A commit at block B must show by B + (reveal period 1 + 1) * tempo + the deferral slack.
CR_WAIT = 2 * TEMPO + readback.REVEAL_SLACK_BLOCKS


@pytest.fixture(scope="module")
def wallets(tmp_path_factory):
    root = tmp_path_factory.mktemp("wallets")
    return [make_wallet(root, f"r{i}", 300 + i) for i in range(4)]


class Net:
    def __init__(self, wallets, tmp_path, *, commit_reveal: bool) -> None:
        self.wallets = wallets
        neurons = {0: neuron(0, hotkey_of(wallets[0]))}
        for uid in AVERAGES:
            neurons[uid] = neuron(uid, hotkey_of(wallets[uid]), stake=0.0, permit=False)
        self.chain = FakeChain(NETUID, neurons, commit_reveal_enabled=commit_reveal)
        self.store = StateStore(tmp_path / "state.json")
        self.store.save(ValidatorState(averages=AVERAGES, hotkeys={u: neurons[u].hotkey for u in AVERAGES}))
        self.logger = RecordingRunLogger()

    def validator(self) -> Validator:
        """A validator on this net's state file (a second call is a restart)."""
        return Validator(
            wallet=self.wallets[0], chain=self.chain, netuid=NETUID,
            circuits=[FakeCircuit(CIRCUIT_A, "fake-a", timeout_s=1.0)],
            client=None,  # type: ignore[arg-type]  # nobody serves: no miner is challenged
            verify=FakeVerifier(), store=self.store, guard=ReplayGuard(), version_key=VERSION_KEY,
            run_logger=self.logger,
        )

    async def write(self, validator: Validator) -> int:
        result = await validator.maybe_set_weights(self.chain.view())
        assert result is not None and result.ok, result
        return result.block

    async def check_at(self, validator: Validator, block: int) -> readback.Readback | None:
        self.chain.current_block = block
        return await validator.check_weights(self.chain.view())


@pytest.fixture
def net(wallets, tmp_path):
    return lambda **options: Net(wallets, tmp_path, **options)


def checks(validator: Validator, outcome: str, reason: str) -> float:
    value = validator.metrics.registry.get_sample_value(
        "poi_weight_checks_total", {"outcome": outcome, "reason": reason})
    return value or 0.0


def unconfirmed(validator: Validator) -> float | None:
    return validator.metrics.registry.get_sample_value("poi_weights_unconfirmed")


async def test_a_revealed_row_equal_to_the_commit_is_landed(net, caplog):
    net = net(commit_reveal=True)
    v = net.validator()
    block = await net.write(v)
    assert v.state.weights_check is not None and v.state.weights_check.commit_reveal
    net.chain.reveal()
    with caplog.at_level(logging.INFO, logger="validator"):
        verdict = await net.check_at(v, block + CR_WAIT)
    assert verdict is not None and verdict.landed and verdict.found == block and verdict.reason == "none"
    assert f"weights of block {block} revealed at/by block {block + CR_WAIT} as committed" in caplog.text
    assert "NOT ON CHAIN" not in caplog.text and net.logger.alerts == []
    assert checks(v, "landed", "none") == 1 and unconfirmed(v) == 0
    assert v.state.weights_check is None and net.store.load().state.weights_check is None


async def test_nothing_is_read_back_before_the_due_block(net):
    """Before B + (reveal period + 1) * tempo + slack: no read of the row (a read would fail
    here: weights_row is down), the check stays; at the due block it is read once."""
    net = net(commit_reveal=True)
    v = net.validator()
    block = await net.write(v)
    net.chain.fail_ops.add("weights_row")
    for early in (block, block + TEMPO, block + CR_WAIT - 1):
        assert await net.check_at(v, early) is None
    assert v.state.weights_check is not None and v.state.weights_check.due_block == block + CR_WAIT
    assert v.metrics.registry.get_sample_value("poi_chain_errors_total", {"operation": "weights_check"}) is None
    net.chain.fail_ops.clear()
    net.chain.reveal()
    assert (await net.check_at(v, block + CR_WAIT)).landed
    assert await net.check_at(v, block + CR_WAIT + 1) is None  # read back once, then done


async def test_a_plaintext_write_is_due_at_once(net):
    net = net(commit_reveal=False)
    v = net.validator()
    block = await net.write(v)
    assert v.state.weights_check.due_block == block and not v.state.weights_check.commit_reveal
    verdict = await net.check_at(v, block)
    assert verdict.landed and verdict.row == net.chain.rows[0]


def _version_key(chain: FakeChain) -> None:
    chain.version_key = VERSION_KEY + 1


def _no_permit(chain: FakeChain) -> None:
    chain.set_neuron(0, validator_permit=False)


def _min_weights(chain: FakeChain) -> None:
    chain.min_allowed_weights = 4  # three miners were weighted; the subnet has four uids


def _max_weight(chain: FakeChain) -> None:
    chain.max_weights_limit = 30000  # 0.458 of the total; uid 3 holds 0.5


def _deregistered(chain: FakeChain) -> None:
    del chain.neurons[0]


def _nothing(chain: FakeChain) -> None:
    pass


@pytest.mark.parametrize("change, reason, says", [
    (_version_key, "version_key", f"weights_version_key is {VERSION_KEY + 1}, above ours {VERSION_KEY}"),
    (_no_permit, "no_permit", "uid 0 has no validator permit"),
    (_min_weights, "min_weights", "3 weights, fewer than the subnet's min_allowed_weights 4"),
    (_max_weight, "max_weight", "above the subnet's max_weight_limit 0.4578"),
    (_deregistered, "deregistered", "our hotkey is no longer registered"),
    (_nothing, "unknown", "nothing the validator can see explains it"),
])
async def test_a_missing_row_after_the_due_block_warns_with_the_likely_reason(net, caplog, change, reason, says):
    """The chain dropped the commit at its reveal; what changed since the write is the
    likely reason: in the warning, the metric's label and the alarm."""
    net = net(commit_reveal=True)
    v = net.validator()
    block = await net.write(v)
    change(net.chain)
    net.chain.drop_commits()
    with caplog.at_level(logging.WARNING, logger="validator"):
        verdict = await net.check_at(v, block + CR_WAIT)
    assert verdict.outcome == "missing" and verdict.reason == reason
    warning = [r.getMessage() for r in caplog.records if "WEIGHTS NOT ON CHAIN" in r.getMessage()]
    assert len(warning) == 1 and f"written at block {block} (commit-reveal" in warning[0]
    assert f"{reason}: " in warning[0] and says in warning[0]
    assert checks(v, "missing", reason) == 1 and unconfirmed(v) == 1
    assert [title for title, _ in net.logger.alerts] == [f"weights not on chain ({reason})"]
    assert says in net.logger.alerts[0][1]


async def test_a_row_holding_other_weights_is_different_not_landed(net, caplog):
    """A plaintext row the chain holds but not as we wrote it (an older write still there)."""
    net = net(commit_reveal=False)
    v = net.validator()
    block = await net.write(v)
    net.chain.rows[0] = {1: 65535}
    with caplog.at_level(logging.WARNING, logger="validator"):
        verdict = await net.check_at(v, block + 1)
    assert verdict.outcome == "different" and verdict.reason == "unknown"
    assert "holds other weights" in caplog.text and checks(v, "different", "unknown") == 1


async def test_a_pending_check_survives_a_restart(net):
    net = net(commit_reveal=True)
    block = await net.write(net.validator())
    restarted = net.validator()
    assert restarted.state.weights_check is not None
    assert restarted.state.weights_check.writes[0].block == block
    assert await net.check_at(restarted, block + CR_WAIT - 1) is None  # the due block is kept too
    net.chain.drop_commits()
    verdict = await net.check_at(restarted, block + CR_WAIT)
    assert verdict.outcome == "missing" and checks(restarted, "missing", "unknown") == 1


async def test_a_newer_write_joins_the_pending_check_without_moving_its_due_block(net):
    """Two commits before the first is due: the check keeps the first's due block, and the
    chain showing the newer one (it revealed last) is ours as written: landed."""
    net = net(commit_reveal=True)
    v = net.validator()
    first = await net.write(v)
    assert await net.check_at(v, first + 1) is None  # fixes the due block
    net.chain.current_block = first + net.chain.rate_limit
    v.state = v.state.model_copy(update={"averages": {1: 0.1, 2: 0.3, 3: 0.6}})
    second = await net.write(v)
    check = v.state.weights_check
    assert [w.block for w in check.writes] == [first, second] and check.due_block == first + CR_WAIT
    assert check.writes[0].row != check.writes[1].row
    net.chain.reveal()  # both revealed; the row is the second's
    verdict = await net.check_at(v, first + CR_WAIT)
    assert verdict.landed and verdict.found == second


async def test_a_failed_read_keeps_the_check_for_the_next_round(net, caplog):
    net = net(commit_reveal=False)
    v = net.validator()
    block = await net.write(v)
    net.chain.fail_reads = 1
    with caplog.at_level(logging.WARNING, logger="validator"):
        assert await net.check_at(v, block) is None
    assert "reading our weights back failed" in caplog.text
    assert v.metrics.registry.get_sample_value("poi_chain_errors_total", {"operation": "weights_check"}) == 1
    assert (await net.check_at(v, block + 1)).landed


async def test_a_round_reads_a_due_check_back_before_it_writes_even_when_skipped(net):
    """run_round: the read-back runs right after the metagraph read, also in a round the
    validator skips for its lost permit, whose likely reason it then is."""
    net = net(commit_reveal=True)
    v = net.validator()
    block = await net.write(v)
    net.chain.current_block = block + CR_WAIT
    _no_permit(net.chain)
    net.chain.drop_commits()
    report = await v.run_round()
    assert report.skipped is not None and checks(v, "missing", "no_permit") == 1


def test_submitted_row_is_the_sdks_clip_and_quantisation():
    """Under a max-weight limit the SDK clips before quantising: the row read back is that,
    not the plain normalisation of the intent."""
    import bittensor as bt
    from bittensor.intents import normalize

    intent = bt.SetWeights(netuid=NETUID, uids=[1, 2, 3], weights=[0.2, 0.3, 0.5])
    clipped = readback.submitted_row(intent, own_uid=0, max_weights_limit=30000)
    assert clipped != dict(zip(*normalize([1, 2, 3], [0.2, 0.3, 0.5])))
    assert max(clipped.values()) / sum(clipped.values()) == pytest.approx(30000 / 65535, abs=1e-4)
    assert readback.submitted_row(intent, own_uid=0, max_weights_limit=65535) == dict(
        zip(*normalize([1, 2, 3], [0.2, 0.3, 0.5])))
