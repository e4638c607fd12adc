"""A cast of wallets for admission tests: who may call the miner, who may not, and why."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from neurons.chain import MetagraphView
from tests.support.chain import metagraph_of, neuron
from tests.support.wallets import hotkey_of, make_wallet

if TYPE_CHECKING:
    import bittensor as bt

__all__ = ["NETUID", "MIN_STAKE", "Cast", "make_cast"]

NETUID = 7
MIN_STAKE = 100.0


@dataclass(frozen=True)
class Cast:
    """The wallets of a test network and the metagraph they are registered in.

    ``validator`` may call the miner; ``no_permit`` and ``poor`` are registered but
    refused by the policy (no validator permit; stake below ``MIN_STAKE``);
    ``stranger`` is not registered at all.
    """

    miner: bt.Wallet
    validator: bt.Wallet
    no_permit: bt.Wallet
    poor: bt.Wallet
    stranger: bt.Wallet

    def metagraph(self) -> MetagraphView:
        """Netuid ``NETUID``: miner uid 0, validator 1, no_permit 2, poor 3."""
        return metagraph_of(
            NETUID,
            [
                neuron(0, hotkey_of(self.miner), stake=0.0, permit=False),
                neuron(1, hotkey_of(self.validator), stake=MIN_STAKE * 10),
                neuron(2, hotkey_of(self.no_permit), stake=MIN_STAKE * 10, permit=False),
                neuron(3, hotkey_of(self.poor), stake=MIN_STAKE / 2),
            ],
        )


def make_cast(root: Path) -> Cast:
    """The cast's wallets in ``root`` (seeds 0-4: the same keys every run)."""
    names = ("miner", "validator", "no_permit", "poor", "stranger")
    return Cast(*(make_wallet(root, name, seed) for seed, name in enumerate(names)))
