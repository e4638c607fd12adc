"""What the loopback benchmarks share: seeded wallets and metagraph neurons without a chain.

``bench/api_latency.py``, ``bench/incentives.py`` and ``bench/miner_path.py`` run real
miners and validators in one process with a hand-made ``MetagraphView``; these build its
parts. Wallets are password-less and derive from a seed, so a run's hotkeys are the same
every time.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import bittensor as bt

from neurons.chain import NeuronInfo

__all__ = ["neuron_info", "seeded_wallet"]


def seeded_wallet(root: Path, name: str, seed: int, *, label: str = "bench") -> bt.Wallet:
    """A password-less wallet under ``root`` whose keys derive from ``label`` and ``seed``
    (same pair, same hotkey)."""
    cold = hashlib.sha256(f"{label}-cold-{seed}".encode()).hexdigest()
    hot = hashlib.sha256(f"{label}-hot-{seed}".encode()).hexdigest()
    bt.wallets.regen_coldkey(seed="0x" + cold, name=name, path=str(root), use_password=False)
    return bt.wallets.regen_hotkey(seed="0x" + hot, name=name, hotkey="default", path=str(root))


def neuron_info(uid: int, hotkey: str, *, validator: bool, axon: tuple[str, int] | None = None) -> NeuronInfo:
    """A registered neuron: a validator (permit, 10,000 stake) or a miner (no stake) at ``axon``."""
    return NeuronInfo(uid=uid, hotkey=hotkey, coldkey="5" + "C" * 47, stake=10_000.0 if validator else 0.0,
                      validator_permit=validator, axon=axon, incentive=0.0, last_update=0)
