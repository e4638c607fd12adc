"""neurons.shared.startup: circuit choice, registration with an owned or injected chain, observability."""

from __future__ import annotations

import dataclasses
import logging
import re
from pathlib import Path

import pytest

from execution_layer import CircuitNotFound, CircuitRegistry, CircuitUnavailable, UntrustedSrs
from neurons.chain import NotRegistered, WalletMissing
from neurons.shared.settings import ChainSettings, ObservabilitySettings, WalletSettings
from neurons.shared.startup import observability, registered_neuron, select_circuits
from tests.support.chain import FakeChain, neuron
from tests.support.models import SHIPPED, copy_models
from tests.support.paths import DOCS
from tests.support.wallets import hotkey_of, make_wallet
from utils.wandb_log import NullLogger

pytestmark = pytest.mark.anyio

NETUID = 3


@pytest.fixture(scope="module")
def wallet(tmp_path_factory):
    root = tmp_path_factory.mktemp("wallets")
    return root, make_wallet(root, "w", 21)


def chain_settings(network: str = "devnet", allow_self_generated_srs: bool = False) -> ChainSettings:
    return ChainSettings(netuid=NETUID, network=network, devnet_state=Path("unused.sqlite"),
                         allow_self_generated_srs=allow_self_generated_srs)


# --- circuits ----------------------------------------------------------------------


def test_select_circuits_defaults_to_every_shipped_circuit(registry):
    assert select_circuits(registry, None, chain=chain_settings()) == list(registry)


def test_select_circuits_by_name_or_id_in_the_order_given(registry):
    wanted = list(reversed(registry.circuits))  # not the registry's order, so the order given is what shows
    keys = [c.name if i % 2 == 0 else c.id for i, c in enumerate(wanted)]
    assert select_circuits(registry, keys, chain=chain_settings()) == wanted


def test_select_circuits_names_what_is_missing_and_what_there_is(registry):
    with pytest.raises(CircuitNotFound, match=r"no circuit named 'nope' or with that id \(have: ") as err:
        select_circuits(registry, ("nope",), chain=chain_settings("finney"))
    assert all(name in str(err.value) for name in SHIPPED)


@pytest.fixture
def one_broken(tmp_path) -> tuple[CircuitRegistry, str]:
    """The shipped circuits loaded from a copy whose last folder lost its vk.key: (registry, broken name)."""
    models = copy_models(tmp_path / "models")
    (models / SHIPPED[-1] / "vk.key").unlink()
    return CircuitRegistry.load(models), SHIPPED[-1]


def test_a_broken_folder_is_one_warning_line_and_the_others_are_selected(one_broken, caplog):
    registry, name = one_broken
    with caplog.at_level(logging.WARNING, logger="neurons.shared.startup"):
        chosen = select_circuits(registry, None, chain=chain_settings())
    assert [c.name for c in chosen] == [n for n in SHIPPED if n != name]
    (record,) = [r for r in caplog.records if r.name == "neurons.shared.startup"]
    assert record.levelno == logging.WARNING and "\n" not in record.getMessage()
    assert record.getMessage().startswith(f"circuit {name} not loaded (CircuitMismatch): ")
    assert "vk.key" in record.getMessage() and "python -m execution_layer.build" in record.getMessage()


def test_asking_by_name_for_a_broken_circuit_is_a_one_line_error_naming_why(one_broken):
    registry, name = one_broken
    with pytest.raises(CircuitUnavailable) as err:
        select_circuits(registry, (name,), chain=chain_settings())
    assert str(err.value).startswith(f"circuit {name} is not loaded: ") and "vk.key" in str(err.value)
    assert "\n" not in str(err.value)


def _circuits_use(names: list[str]) -> str:
    return f"circuits {', '.join(names)} use" if len(names) > 1 else f"circuit {names[0]} uses"


@pytest.mark.parametrize("network", ["finney", "test", "wss://entrypoint-finney.opentensor.ai:443",
                                     "ws://10.0.0.5:9944"])
def test_self_generated_srs_circuits_are_refused_on_a_network_off_this_machine(registry, network):
    """Whoever generated the shipped SRS can forge proofs: one line says why and what to do."""
    one = registry.circuits[-1].name
    with pytest.raises(UntrustedSrs) as refused:
        select_circuits(registry, (one,), chain=chain_settings(network))
    assert str(refused.value) == (
        f"refusing to run on {network}: circuit {one} uses a self-generated SRS, and whoever generated it "
        "can forge proofs; rebuild against the public ceremony SRS (docs/custom_circuit_integration.md), or "
        "pass --srs.allow_self_generated if this is a private test subnet"
    )
    with pytest.raises(UntrustedSrs) as refused:
        select_circuits(registry, None, chain=chain_settings(network))
    names = [c.name for c in registry]
    named = _circuits_use(names)
    assert f"{named} a self-generated SRS" in str(refused.value)
    if network == "finney":
        # troubleshooting.md shows the line printed for the models shipped when it was written: the same
        # words, whichever circuits it names.
        before, after = f"ERROR miner: {refused.value}\n".split(named, 1)
        line = re.escape(before) + r"circuits? [\w, ]+ uses? " + re.escape(after.lstrip())
        assert re.search(line, (DOCS / "troubleshooting.md").read_text()), line


@pytest.mark.parametrize("network", ["devnet", "local", "ws://127.0.0.1:9944", "ws://localhost:9944"])
def test_self_generated_srs_circuits_run_on_a_chain_on_this_machine(registry, network):
    assert select_circuits(registry, None, chain=chain_settings(network)) == list(registry)


def test_allow_self_generated_lets_a_private_test_subnet_run_them(registry):
    assert select_circuits(registry, None, chain=chain_settings("test", allow_self_generated_srs=True)) == list(registry)


def test_ceremony_srs_circuits_run_anywhere(registry):
    """Only the SRS origin decides: the same circuits declared as built on the ceremony SRS pass on finney,
    and a mix is refused naming only the self-generated one."""
    ceremony = CircuitRegistry(tuple(dataclasses.replace(c, srs_origin="ceremony") for c in registry))
    assert select_circuits(ceremony, None, chain=chain_settings("finney")) == list(ceremony)
    first, last = ceremony.circuits[0], registry.circuits[-1]
    assert first.name != last.name, "needs two shipped circuits"
    mixed = CircuitRegistry((first, last))
    with pytest.raises(UntrustedSrs, match=f"circuit {last.name} uses"):
        select_circuits(mixed, None, chain=chain_settings("finney"))
    assert select_circuits(mixed, (first.name,), chain=chain_settings("finney")) == [first]


# --- registration ------------------------------------------------------------------


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


def test_observability_off_gives_metrics_and_a_null_run_logger(caplog):
    """Port 0 and wandb off: fresh Metrics that count (a second block starts from zero), served
    nowhere (no "metrics at" line), and a NullLogger that accepts a round and finishes quietly."""
    off = ObservabilitySettings(metrics_port=0, wandb_on=False, wandb_offline=False,
                                wandb_project="p", wandb_entity=None, wandb_dir=None)
    accepted = ("poi_verifications_total", {"outcome": "accepted"})
    with caplog.at_level(logging.INFO, logger="validator"):
        with observability(off, component="validator", config={}) as obs:
            obs.metrics.verifications.labels(outcome="accepted").inc()
            obs.run_logger.log_round(round_index=1, responses=0, verified=0, mean_score=0.0,
                                     mean_response_s=0.0)
            counted = obs.metrics.registry.get_sample_value(*accepted)
        with observability(off, component="validator", config={}) as again:
            fresh = again.metrics.registry.get_sample_value(*accepted)
    assert counted == 1.0 and fresh is None
    assert type(obs.run_logger) is NullLogger and type(again.run_logger) is NullLogger
    assert "metrics at" not in caplog.text
