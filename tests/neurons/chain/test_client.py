"""neurons.chain: connect, the Chain read/write surface on the devnet, retries, bad input."""

from __future__ import annotations

import asyncio

import bittensor as bt
import pytest
from bittensor.result import RpcConnectionError

from neurons import chain as chain_mod
from neurons.chain import (
    DEFAULT_DEVNET_STATE,
    DEFAULT_WALLET_PATH,
    ChainUnreachable,
    MetagraphView,
    NotRegistered,
    UnknownNetwork,
    UnknownSubnet,
    WalletMissing,
    connect,
    load_wallet,
    register_command,
    require_registered,
)
from neurons.chain.client import _no_subnet
from neurons.devnet.connect import DevnetStateMissing, connect_devnet
from neurons.devnet.substrate import DevnetSubstrate
from tests.support.devnet import CountingSubstrate, make_devnet


def run(coro):
    return asyncio.run(coro)


async def _chain(devnet, wallets, *, permit=True, substrate=None):
    """A Chain on the devnet with validator (uid 0, staked, permitted) and miner (uid 1).

    ``permit=False`` revokes the validator's permit by the admin's override: staked, it would
    otherwise earn one by stake rank at the epoch ``advance_past_registration`` runs."""
    chain = await connect("devnet", substrate=substrate or DevnetSubstrate(devnet.open()))
    for name in ("validator", "miner"):
        assert (await chain.register(wallets[name], 2)).ok
    assert (await chain.add_stake(wallets["validator"], 2, 10.0)).ok
    devnet.permit(2, wallets["validator"], granted=permit)
    devnet.advance_past_registration()
    return chain


def test_unknown_network_lists_the_valid_ones():
    with pytest.raises(UnknownNetwork) as caught:
        run(connect("mainnet"))
    message = str(caught.value)
    assert "'mainnet'" in message and "devnet, finney, test, local" in message
    assert "\n" not in message


def test_unreachable_endpoint_fails_fast_with_one_line():
    """Nothing listens on port 9: ChainUnreachable naming the endpoint (bounded by timeout=)."""
    with pytest.raises(ChainUnreachable) as caught:
        run(connect("ws://127.0.0.1:9", timeout=5))
    assert "ws://127.0.0.1:9" in str(caught.value) and "\n" not in str(caught.value)


def test_connect_devnet_creates_the_state_file_only_when_asked(tmp_path):
    async def go():
        chain = await connect_devnet(tmp_path / "d" / "chain.sqlite", create=True)
        block = await chain.block()
        await chain.close()
        return block

    assert run(go()) >= 1
    assert (tmp_path / "d" / "chain.sqlite").exists()


def test_connect_refuses_a_missing_devnet_state_and_writes_nothing(tmp_path):
    """A mistyped devnet path: DevnetStateMissing (a ChainUnreachable), one line naming
    the path and the create-subnet command for the netuid; no file, no folder."""
    typo = tmp_path / "typo" / "chian.sqlite"
    with pytest.raises(DevnetStateMissing) as caught:
        run(connect_devnet(typo, netuid=5))
    assert isinstance(caught.value, ChainUnreachable)
    assert str(caught.value) == (
        f"no devnet state at {typo}; create it with python -m neurons.devnet --state {typo} "
        "create-subnet --netuid 5 (or run neurons/localnet.py)"
    )
    assert not typo.parent.exists()
    assert list(tmp_path.iterdir()) == []


def test_missing_devnet_state_message_quotes_a_path_with_spaces(tmp_path):
    """The command in the message can be pasted as it is; without a netuid it says NETUID."""
    odd = tmp_path / "my chain.sqlite"
    with pytest.raises(DevnetStateMissing) as caught:
        run(connect_devnet(odd))
    assert f"--state '{odd}' create-subnet --netuid NETUID" in str(caught.value)
    assert not odd.exists()


def test_admin_commands_other_than_create_subnet_refuse_a_missing_state(tmp_path, wallets):
    """register, stake, permit and metagraph never create a chain; create-subnet does."""
    from neurons.devnet import admin

    typo = tmp_path / "nowhere" / "chain.sqlite"
    wallet_root = tmp_path / "unused-wallets"
    with pytest.raises(DevnetStateMissing, match="create-subnet --netuid 3"):
        run(admin.metagraph(3, state=typo))
    with pytest.raises(DevnetStateMissing, match="create-subnet --netuid 3"):
        admin.permit(3, wallets["validator"].hotkeypub.ss58_address, state=typo)
    assert not typo.parent.exists() and not wallet_root.exists()
    admin.create_subnet(3, state=typo)
    assert typo.exists()
    assert run(admin.metagraph(3, state=typo)).view.neurons == ()


def test_metagraph_view_and_uid_lookups(devnet, wallets):
    async def go():
        chain = await _chain(devnet, wallets)
        assert (await chain.serve_axon(wallets["miner"], 2, "192.168.1.4", 8443)).ok
        view = await chain.metagraph(2)
        uid = await chain.uid_of(2, wallets["miner"].hotkeypub.ss58_address)
        await chain.close()
        return view, uid

    view, uid = run(go())
    assert isinstance(view, MetagraphView) and view.netuid == 2 and uid == 1
    assert view.tempo == 4
    val, miner = view.neurons
    assert val.stake == pytest.approx(10.0) and val.validator_permit and val.axon is None
    assert miner.axon == ("192.168.1.4", 8443) and miner.stake == 0.0
    # BlockAtRegistration, which tells a hotkey swap (kept) from a new registration (set anew)
    assert 0 < val.registered_at <= miner.registered_at <= view.block
    assert view.uid_of(wallets["validator"].hotkeypub.ss58_address) == 0
    assert view.by_uid(1) == miner


def test_metagraph_view_carries_the_subnets_weight_limits_from_the_same_read(tmp_path):
    net = make_devnet(tmp_path, min_allowed_weights=3, max_weights_limit=19660)

    async def go():
        substrate = CountingSubstrate(DevnetSubstrate(net.open()))
        chain = await connect("devnet", substrate=substrate)
        substrate.reads.clear()
        view = await chain.metagraph(2)
        await chain.close()
        return view, [key for _, key in substrate.reads]

    view, reads = run(go())
    assert (view.min_allowed_weights, view.max_weights_limit) == (3, 19660)
    # No storage query: the limits come with the metagraph's one runtime call.
    assert [key[:3] for key in reads if key[0] in ("query", "runtime_call")] == [
        ("runtime_call", "SubnetInfoRuntimeApi", "get_metagraph")
    ]


def test_metagraph_of_unknown_subnet_raises(devnet, wallets):
    async def go():
        chain = await connect("devnet", substrate=DevnetSubstrate(devnet.open()))
        try:
            await chain.metagraph(99)
        finally:
            await chain.close()

    with pytest.raises(UnknownSubnet, match="subnet 99 does not exist"):
        run(go())


def test_unknown_subnet_hint_names_a_non_default_devnet_state(devnet):
    """The create-subnet hint carries --state when the chain is not at the default path."""
    async def go(path):
        chain = await connect_devnet(path)
        try:
            await chain.metagraph(99)
        finally:
            await chain.close()

    with pytest.raises(UnknownSubnet) as caught:
        run(go(devnet.state))
    assert str(caught.value).endswith(
        f"create it: python -m neurons.devnet create-subnet --netuid 99 --state {devnet.state}"
    )
    assert "--state" not in _no_subnet(99, "devnet", None)


def test_serve_axon_unregistered_returns_one_line_error(devnet, wallets):
    async def go():
        chain = await _chain(devnet, wallets)
        before = devnet.dump()
        result = await chain.serve_axon(wallets["outsider"], 2, "10.1.1.1", 9000)
        await chain.close()
        return before, result

    before, result = run(go())
    assert not result.ok and "HotKeyNotRegisteredInNetwork" in result.error
    assert "\n" not in result.error and devnet.dump() == before


def test_serve_axon_with_a_bad_ip_is_a_result_not_an_exception(devnet, wallets):
    async def go():
        chain = await _chain(devnet, wallets)
        result = await chain.serve_axon(wallets["miner"], 2, "not-an-ip", 9000)
        await chain.close()
        return result

    result = run(go())
    assert not result.ok and "not-an-ip" in result.error


@pytest.mark.parametrize(
    "ip, listed",
    [("127.0.0.1", False), ("::1", False), ("127.0.0.2", True), ("0.0.0.0", None), ("10.1.2.3", True)],
    ids=["localhost-v4", "localhost-v6", "other-loopback", "zero", "private"],
)
def test_serve_axon_refuses_exactly_the_addresses_subtensor_refuses(devnet, wallets, ip, listed):
    """subtensor's is_valid_ip_address (allow_zero): 127.0.0.1 and ::1 are InvalidIpAddress, and
    nothing is written; other loopback and private addresses are listed; zero is accepted and
    reads back as not serving (ip 0 is what an unset axon holds)."""
    async def go():
        chain = await _chain(devnet, wallets)
        try:
            result = await chain.serve_axon(wallets["miner"], 2, ip, 9000)
            return result, (await chain.metagraph(2)).by_uid(1)
        finally:
            await chain.close()

    result, miner = run(go())
    if listed is None:
        assert result.ok and miner.axon is None
    elif listed:
        assert result.ok, result.error
        assert miner.axon == (ip, 9000)
    else:
        assert not result.ok and "InvalidIpAddress" in result.error and "127.0.0.2" in result.error
        assert miner.axon is None


def test_a_submitted_set_weights_intent_lands_as_built_and_reads_back(devnet, wallets):
    async def go():
        chain = await _chain(devnet, wallets)
        intent = bt.SetWeights(netuid=2, uids=[0, 1], weights=[0.2, 0.8], version_key=0)
        result = await chain.submit(intent, wallets["validator"])
        weights = await chain.weights_of(2, 0)
        await chain.close()
        return result, weights

    result, weights = run(go())
    assert result.ok and result.block is not None and not result.rate_limited
    assert weights == pytest.approx({0: 0.2, 1: 0.8}, abs=1e-4)


def test_a_write_inside_the_rate_limit_is_refused_before_signing_and_flagged(devnet, wallets):
    """The SDK preflight's refusal: ok=False, rate_limited, the SDK's one line with the wait;
    nothing reaches the substrate's submit and nothing is written."""

    async def go():
        substrate = DevnetSubstrate(devnet.open())
        chain = await _chain(devnet, wallets, substrate=substrate)
        assert (await chain.submit(bt.SetWeights(netuid=2, weights={1: 1.0}), wallets["validator"])).ok
        devnet.clock.advance(1)
        before = devnet.dump()
        signed = []
        original = substrate.submit
        substrate.submit = lambda *a, **k: signed.append(a) or original(*a, **k)
        result = await chain.submit(bt.SetWeights(netuid=2, weights={0: 1.0, 1: 1.0}), wallets["validator"])
        await chain.close()
        return before, result, signed

    before, result, signed = run(go())
    assert not result.ok and result.rate_limited
    assert result.error.startswith("rate limited: ") and "Retry in ~2 blocks" in result.error
    assert "\n" not in result.error
    assert signed == [] and devnet.dump() == before


def test_writes_refused_for_other_reasons_are_results_not_rate_limited(devnet, wallets):
    async def go():
        chain = await _chain(devnet, wallets, permit=False)
        no_permit = await chain.submit(bt.SetWeights(netuid=2, weights={1: 1.0}), wallets["validator"])
        outsider = await chain.submit(bt.SetWeights(netuid=2, weights={1: 1.0}), wallets["outsider"])
        await chain.close()
        return no_permit, outsider

    no_permit, outsider = run(go())
    assert not no_permit.ok and "NeuronNoValidatorPermit" in no_permit.error
    assert not outsider.ok and "not registered on netuid 2" in outsider.error
    assert not no_permit.rate_limited and not outsider.rate_limited


class _Flaky:
    """Wraps a Substrate; the first ``failures`` block_number calls raise a connection error."""

    def __init__(self, inner, failures):
        self._inner, self.failures, self.calls = inner, failures, 0

    def __getattr__(self, name):
        return getattr(self._inner, name)

    async def block_number(self):
        self.calls += 1
        if self.calls <= self.failures:
            raise RpcConnectionError("socket closed")
        return await self._inner.block_number()


def test_connection_errors_are_retried_with_backoff_then_reported(devnet):
    async def go(failures):
        flaky = _Flaky(DevnetSubstrate(devnet.open()), failures)
        chain = await connect("devnet", substrate=flaky, retries=2)
        sleeps = []

        async def sleep(seconds):
            sleeps.append(seconds)

        chain._sleep = sleep
        try:
            return await chain.block(), sleeps
        except ChainUnreachable as error:
            return error, sleeps

    block, sleeps = run(go(2))
    assert isinstance(block, int) and sleeps == [0.5, 1.0]
    error, sleeps = run(go(5))
    assert isinstance(error, ChainUnreachable) and "socket closed" in str(error)
    assert len(sleeps) == 2


def test_load_wallet_missing_files_name_the_file_and_the_command(tmp_path, wallets):
    with pytest.raises(WalletMissing) as caught:
        load_wallet("nobody", "default", tmp_path)
    message = str(caught.value)
    assert str(tmp_path / "nobody" / "coldkeypub.txt") in message
    assert "btcli wallet create -w nobody -H default" in message

    root = wallets["validator"].path
    with pytest.raises(WalletMissing, match="btcli wallet new-hotkey -w validator -H spare"):
        load_wallet("validator", "spare", root)
    assert load_wallet("validator", "default", root).hotkeypub.ss58_address


def test_require_registered_names_the_register_command():
    view = MetagraphView(netuid=2, block=10, tempo=10, neurons=())
    with pytest.raises(NotRegistered) as caught:
        require_registered(view, "5Fake", 2, "finney", wallet_name="w", wallet_hotkey="h")
    assert "btcli subnets register --netuid 2 -n finney -w w -H h" in str(caught.value)
    with pytest.raises(NotRegistered, match="python -m neurons.devnet register --netuid 2"):
        require_registered(view, "5Fake", 2, "devnet")


def test_register_command_adds_only_non_default_paths_so_it_can_be_pasted(tmp_path):
    devnet = register_command(2, "devnet", "m", "h", wallet_path=tmp_path / "w", devnet_state=tmp_path / "c.sqlite")
    assert devnet == (
        f"python -m neurons.devnet register --netuid 2 --wallet.name m --wallet.hotkey h "
        f"--wallet.path {tmp_path / 'w'} --state {tmp_path / 'c.sqlite'}"
    )
    assert register_command(
        2, "devnet", "m", "h", wallet_path=DEFAULT_WALLET_PATH, devnet_state=DEFAULT_DEVNET_STATE
    ) == "python -m neurons.devnet register --netuid 2 --wallet.name m --wallet.hotkey h"
    assert register_command(2, "test", "m", "h", wallet_path=tmp_path) == (
        f"btcli subnets register --netuid 2 -n test -w m -H h --wallet-path {tmp_path}"
    )


def test_all_names_are_exported():
    for name in chain_mod.__all__:
        assert hasattr(chain_mod, name), name


class _Result:
    def __init__(self, error):
        self.success, self.message, self.error = False, error.message, error


def test_real_network_rejections_carry_the_sdk_remediation_in_one_line():
    """On finney/test/local a failed ExtrinsicResult maps to '<op> rejected: <msg> (<what to do>)'."""
    from bittensor.result import ChainError

    from neurons.chain import Chain

    chain = Chain(client=None, network="finney")
    error = ChainError("SettingWeightsTooFast", "SettingWeightsTooFast")
    reason = chain._reason(_Result(error))
    assert reason.startswith("SettingWeightsTooFast (") and "rate-limit" in reason
    assert "\n" not in reason
    assert Chain(client=None, network="devnet")._reason(_Result(error)) == "SettingWeightsTooFast"


def test_devnet_state_that_cannot_be_opened_is_chain_unreachable(tmp_path):
    (tmp_path / "dir.sqlite").mkdir()
    with pytest.raises(ChainUnreachable, match="cannot open the devnet state"):
        run(connect_devnet(tmp_path / "dir.sqlite"))


def test_a_devnet_locked_by_another_writer_is_retried_then_reported(devnet):
    """Another process holding the write lock past the busy timeout looks like a dead
    connection: retried with backoff, then ChainUnreachable (no sqlite traceback)."""
    from neurons.devnet.store import Store

    async def go():
        impatient = Store(devnet.state, clock=devnet.clock, busy_timeout=0.05)
        chain = await connect("devnet", substrate=DevnetSubstrate(impatient), retries=1)
        sleeps = []

        async def sleep(seconds):
            sleeps.append(seconds)

        chain._sleep = sleep
        with devnet.open().transaction():
            with pytest.raises(ChainUnreachable, match="database is locked"):
                await chain.metagraph(2)
        assert (await chain.metagraph(2)).tempo == 4  # lock released: reads work again
        return sleeps

    assert run(go()) == [0.5]


def test_weights_version_key_reads_the_subnets_hyperparameter(tmp_path):
    """The value a subnet owner sets (here at creation) is what the validator compares its own with."""
    from tests.support.devnet import StepClock, make_devnet

    net = make_devnet(tmp_path, clock=StepClock(), weights_version_key=10203)

    async def go():
        chain = await connect("devnet", substrate=DevnetSubstrate(net.open()))
        try:
            return await chain.weights_version_key(2), await _missing(chain)
        finally:
            await chain.close()

    async def _missing(chain):
        with pytest.raises(UnknownSubnet):
            await chain.weights_version_key(99)
        return True

    assert run(go()) == (10203, True)


def test_weights_row_reads_the_u16_values_the_sdk_submitted_and_a_plain_write_has_no_reveal_round(
    devnet, wallets
):
    """What the read-back compares: the stored row is the SDK's max-upscaled u16 values, not
    fractions; a plaintext write (commit-reveal off on the devnet) carries no drand round."""
    from bittensor.intents import normalize

    async def go():
        chain = await _chain(devnet, wallets)
        result = await chain.submit(bt.SetWeights(netuid=2, uids=[0, 1], weights=[0.2, 0.8]), wallets["validator"])
        row, never = await chain.weights_row(2, 0), await chain.weights_row(2, 1)
        await chain.close()
        return result, row, never

    result, row, never = run(go())
    assert result.ok and result.reveal_round is None
    assert row == dict(zip(*normalize([0, 1], [0.2, 0.8]))) == {0: 16384, 1: 65535}
    assert never == {}


def test_commit_reveal_reads_the_subnets_setting_through_the_sdk(devnet, wallets):
    """The devnet's answers (commit-reveal off, reveal period 1) come back as they are stored."""
    from neurons.chain import CommitReveal

    async def go():
        chain = await _chain(devnet, wallets)
        try:
            return await chain.commit_reveal(2)
        finally:
            await chain.close()

    assert run(go()) == CommitReveal(enabled=False, reveal_period_epochs=1)


class _Included:
    """An ExtrinsicResult that landed in block 77, with the SDK's result data."""

    def __init__(self, data):
        self.success, self.extrinsic_id, self.data = True, "77-1", data


class _Executes:
    def __init__(self, data):
        self.data = data

    async def execute(self, intent, wallet):
        return _Included(self.data)


@pytest.mark.parametrize("data, reveal_round", [({"reveal_round": 123456}, 123456), ({}, None)])
def test_a_timelocked_weight_write_reports_its_reveal_round(data, reveal_round):
    """The SDK puts the drand round in the result's data exactly when it sent a commit."""
    from neurons.chain import Chain

    chain = Chain(client=_Executes(data), network="finney")
    result = run(chain.submit(bt.SetWeights(netuid=2, weights={1: 1.0}), wallet=None))
    assert result.ok and result.block == 77 and result.reveal_round == reveal_round
