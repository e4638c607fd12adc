"""The flag groups both daemons share, as frozen settings built from parsed args.

``neurons.shared.config`` defines the flags; this module turns the shared groups of
a parsed ``argparse.Namespace`` into values: ``ChainSettings`` (which chain
and subnet), ``WalletSettings`` (whose keys) and ``ObservabilitySettings``
(Prometheus and Weights & Biases). Paths are expanded (``~``) here, once.
Each daemon's own settings (``MinerSettings``, ``ValidatorSettings``) hold
these groups plus their own flags.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

from neurons.shared.addresses import is_loopback_endpoint

__all__ = ["ChainSettings", "WalletSettings", "ObservabilitySettings"]


@dataclass(frozen=True)
class ChainSettings:
    """``--netuid``, ``--subtensor.network``, ``--subtensor.devnet_state``, and
    ``--srs.allow_self_generated`` (whether this network may run circuits built on a
    self-generated SRS: a trust decision about the network, see ``trusts_self_generated_srs``)."""

    netuid: int
    network: str
    devnet_state: Path
    allow_self_generated_srs: bool = False

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> ChainSettings:
        return cls(netuid=args.netuid, network=args.network, devnet_state=args.devnet_state.expanduser(),
                   allow_self_generated_srs=args.srs_allow_self_generated)

    @property
    def devnet(self) -> bool:
        """The embedded devnet (no node; every neuron on this machine)."""
        return self.network == "devnet"

    @property
    def default_min_stake(self) -> float:
        """The least stake miners require of a validator unless ``--miner.min_stake`` says
        otherwise: 0 on the devnet, 1000 elsewhere. The validator's ``--validator.min_stake``
        defaults to the same, so both sides read one number."""
        return 0.0 if self.devnet else 1000.0

    @property
    def on_this_machine(self) -> bool:
        """The chain runs on this machine: ``devnet``, ``local``, or a ws(s):// URL to a loopback host.

        Such a chain is a test network whose neurons announce local addresses
        (127.0.0.1, a LAN address). ``local`` is ws://127.0.0.1:9944; a node
        there may also be a local copy of a real network, which this cannot tell.
        """
        return self.devnet or self.network == "local" or is_loopback_endpoint(self.network)

    @property
    def trusts_self_generated_srs(self) -> bool:
        """Circuits on a self-generated SRS may run here: the chain is on this machine, or
        ``--srs.allow_self_generated`` says this is a private test subnet.

        Whoever generated such an SRS can forge proofs, so on a public network
        (finney, test, a remote node) they would verify anything its maker sends.
        """
        return self.on_this_machine or self.allow_self_generated_srs

    @property
    def enforces_pins(self) -> bool:
        """A circuit outside the subnet owner's on-chain pin is neither served nor challenged
        (``neurons.shared.pins``): on a network not on this machine (finney, test, a remote
        node). On the devnet or a local node an unpinned circuit is logged and still runs."""
        return not self.on_this_machine


@dataclass(frozen=True)
class WalletSettings:
    """``--wallet.name``, ``--wallet.hotkey``, ``--wallet.path``."""

    name: str
    hotkey: str
    path: Path

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> WalletSettings:
        return cls(name=args.wallet_name, hotkey=args.wallet_hotkey, path=args.wallet_path.expanduser())


@dataclass(frozen=True)
class ObservabilitySettings:
    """``--metrics.port`` (0: off), ``--metrics.addr`` and the ``--wandb.*`` flags."""

    metrics_port: int
    wandb_on: bool
    wandb_offline: bool
    wandb_project: str
    wandb_entity: str | None
    wandb_dir: str | None
    metrics_addr: str = "127.0.0.1"

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> ObservabilitySettings:
        return cls(
            metrics_port=args.metrics_port,
            metrics_addr=args.metrics_addr,
            wandb_on=args.wandb_on,
            wandb_offline=args.wandb_offline,
            wandb_project=args.wandb_project,
            wandb_entity=args.wandb_entity,
            wandb_dir=args.wandb_dir,
        )
