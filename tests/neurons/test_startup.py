"""neurons.startup: circuit choice, registration with an owned or injected chain, observability."""

from __future__ import annotations

from pathlib import Path

import pytest

from execution_layer import CircuitNotFound
from neurons.chain import NotRegistered, WalletMissing
from neurons.settings import ChainSettings, ObservabilitySettings, WalletSettings
from neurons.startup import observability, registered_neuron, select_circuits
from tests.fakes import FakeChain, hotkey_of, make_wallet, neuron

pytestmark = pytest.mark.anyio

NETUID = 3


@pytest.fixture(scope="module")
def wallet(tmp_path_factory):
    root = tmp_path_factory.mktemp("wallets")
    return root, make_wallet(root, "w", 21)


# --- circuits ----------------------------------------------------------------------


def test_select_circuits_defaults_to_every_shipped_circuit(shipped):
    assert select_circuits(shipped, None) == list(shipped)


def test_select_circuits_by_name_or_id_in_the_order_given(shipped):
    wine, digits = shipped.by_name("wine_mlp"), shipped.by_name("digits_cnn")
    assert select_circuits(shipped, ("wine_mlp", digits.id)) == [wine, digits]


def test_select_circuits_names_what_is_missing_and_what_there_is(shipped):
    with pytest.raises(CircuitNotFound, match=r"no circuit named 'nope' or with that id \(have: .*wine_mlp"):
        select_circuits(shipped, ("nope",))


# --- registration ------------------------------------------------------------------


def chain_settings(network: str = "devnet") -> ChainSettings:
    return ChainSettings(netuid=NETUID, network=network, devnet_state=Path("unused.sqlite"))


async def test_registered_neuron_finds_our_uid_and_leaves_an_injected_chain_open(wallet):
    root, w = wallet
    chain = FakeChain(NETUID, {4: neuron(4, hotkey_of(w))})
    async with registered_neuron(chain_settings(), WalletSettings("w", "default", root), chain=chain) as me:
        assert (me.uid, me.hotkey, me.netuid, me.network) == (4, hotkey_of(w), NETUID, "devnet")
        assert me.chain is chain and me.view.by_uid(4) is not None
        assert me.run_config() == {"uid": 4, "hotkey": hotkey_of(w), "netuid": NETUID, "network": "devnet"}
    assert not chain.closed


async def test_registered_neuron_refuses_a_missing_wallet_or_an_unregistered_hotkey(wallet, tmp_path):
    root, w = wallet
    with pytest.raises(WalletMissing, match="btcli wallet create"):
        async with registered_neuron(chain_settings(), WalletSettings("w", "default", tmp_path),
                                     chain=FakeChain(NETUID, {})):
            pass
    with pytest.raises(NotRegistered, match="not registered on netuid 3"):
        async with registered_neuron(chain_settings(), WalletSettings("w", "default", root),
                                     chain=FakeChain(NETUID, {})):
            pass


async def test_the_register_command_names_the_wallet_folder_and_devnet_state_in_use(wallet):
    """Pasted as printed, the command must register this hotkey in this wallet folder
    on this devnet, not in the defaults."""
    root, _ = wallet
    with pytest.raises(NotRegistered) as refused:
        async with registered_neuron(chain_settings(), WalletSettings("w", "default", root),
                                     chain=FakeChain(NETUID, {})):
            pass
    assert (f"python -m neurons.devnet register --netuid {NETUID} --wallet.name w --wallet.hotkey default"
            f" --wallet.path {root} --state unused.sqlite") in str(refused.value)


# --- observability -----------------------------------------------------------------


def test_observability_off_gives_metrics_and_a_null_run_logger():
    off = ObservabilitySettings(metrics_port=0, wandb_on=False, wandb_offline=False,
                                wandb_project="p", wandb_entity=None, wandb_dir=None)
    with observability(off, component="validator", config={}) as obs:
        obs.metrics.verifications.labels(outcome="accepted").inc()
        obs.run_logger.log_round(round_index=1, responses=0, verified=0, mean_score=0.0, mean_response_s=0.0)
