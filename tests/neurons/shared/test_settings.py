"""neurons.shared.settings: the flag groups both daemons share, read from the real parsers."""

from __future__ import annotations

from pathlib import Path

import pytest

from neurons.shared.config import miner_parser, validator_parser
from neurons.shared.settings import ChainSettings, ObservabilitySettings, WalletSettings


@pytest.mark.parametrize("parser", [miner_parser, validator_parser], ids=["miner", "validator"])
def test_both_parsers_give_the_same_shared_settings(parser):
    args = parser().parse_args([
        "--netuid", "9", "--subtensor.network", "test", "--subtensor.devnet_state", "~/d.sqlite",
        "--wallet.name", "n", "--wallet.hotkey", "h", "--wallet.path", "~/w", "--metrics.port", "9100",
    ])
    assert ChainSettings.from_args(args) == ChainSettings(9, "test", Path("~/d.sqlite").expanduser())
    assert WalletSettings.from_args(args) == WalletSettings("n", "h", Path("~/w").expanduser())
    obs = ObservabilitySettings.from_args(args)
    assert obs.metrics_port == 9100 and obs.wandb_on is False


@pytest.mark.parametrize(
    "network, devnet, here",
    [("devnet", True, True), ("local", False, True), ("ws://127.0.0.1:9944", False, True),
     ("finney", False, False), ("test", False, False), ("ws://10.0.0.5:9944", False, False)],
)
def test_chain_on_this_machine(network, devnet, here):
    c = ChainSettings(2, network, Path("x"))
    assert (c.devnet, c.on_this_machine) == (devnet, here)


@pytest.mark.parametrize("parser", [miner_parser, validator_parser], ids=["miner", "validator"])
def test_srs_allow_self_generated_is_off_unless_given(parser):
    assert ChainSettings.from_args(parser().parse_args([])).allow_self_generated_srs is False
    assert ChainSettings.from_args(parser().parse_args(["--srs.allow_self_generated"])).allow_self_generated_srs


@pytest.mark.parametrize(
    "network, allow, trusted",
    [("devnet", False, True), ("local", False, True), ("ws://localhost:9944", False, True),
     ("finney", False, False), ("test", False, False), ("ws://10.0.0.5:9944", False, False),
     ("finney", True, True), ("test", True, True)],
)
def test_a_self_generated_srs_is_trusted_on_this_machine_or_when_allowed(network, allow, trusted):
    assert ChainSettings(2, network, Path("x"), allow_self_generated_srs=allow).trusts_self_generated_srs is trusted
