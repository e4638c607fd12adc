"""The one wallet factory: deterministic, password-less wallets in a folder.

Imports bittensor only when called, so prover-pool workers that unpickle a fake
from this package stay light.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import bittensor as bt

__all__ = ["make_wallet", "hotkey_of"]


def make_wallet(root: Path, name: str, seed: int) -> bt.Wallet:
    """Wallet ``name`` (hotkey ``default``) under ``root``, keys derived from ``seed``.

    Same ``seed``, same keys, whatever the folder; no password, no prompt.
    Re-running over an existing wallet rewrites the same keys.
    """
    import bittensor as bt

    cold = hashlib.sha256(f"cold-{seed}".encode()).hexdigest()
    hot = hashlib.sha256(f"hot-{seed}".encode()).hexdigest()
    bt.wallets.regen_coldkey(seed="0x" + cold, name=name, path=str(root), use_password=False)
    return bt.wallets.regen_hotkey(seed="0x" + hot, name=name, hotkey="default", path=str(root))


def hotkey_of(wallet: bt.Wallet) -> str:
    """The wallet's hotkey address (ss58)."""
    return wallet.hotkey.ss58_address
