"""Wallets and registration: loading a wallet's keys, and the command that registers a hotkey.

The default paths a user has (the wallet folder, the devnet's state file) are
defined here, once; flags, hints and the devnet all read them from here.
"""

from __future__ import annotations

from pathlib import Path

import bittensor as bt

from neurons.chain.errors import NotRegistered, WalletMissing
from neurons.chain.types import MetagraphView

__all__ = [
    "DEFAULT_WALLET_PATH",
    "DEFAULT_DEVNET_STATE",
    "load_wallet",
    "require_registered",
    "register_command",
    "non_default",
]

DEFAULT_WALLET_PATH = Path("~/.bittensor/wallets")
DEFAULT_DEVNET_STATE = Path("~/.bittensor/devnet/chain.sqlite")


def load_wallet(name: str, hotkey: str, path: str | Path) -> bt.Wallet:
    """The wallet ``name``/``hotkey`` under ``path``, with its key files checked.

    Raises :class:`WalletMissing` naming the missing file and the command that
    creates it. Does not unlock the coldkey.
    """
    root = Path(path).expanduser()
    wallet = bt.Wallet(name, hotkey, path=str(root))
    create = f"btcli wallet create -w {name} -H {hotkey} --wallet-path {root}"
    coldkeypub = root / name / "coldkeypub.txt"
    if not coldkeypub.exists() and not (root / name / "coldkey").exists():
        raise WalletMissing(f"no coldkey for wallet {name!r} at {coldkeypub}; create it: {create}")
    hotkey_file = root / name / "hotkeys" / hotkey
    if not hotkey_file.exists():
        raise WalletMissing(
            f"no hotkey {hotkey!r} for wallet {name!r} at {hotkey_file}; create it: "
            f"btcli wallet new-hotkey -w {name} -H {hotkey} --wallet-path {root}"
        )
    return wallet


def require_registered(
    metagraph: MetagraphView,
    hotkey: str,
    netuid: int,
    network: str,
    *,
    wallet_name: str = "WALLET",
    wallet_hotkey: str = "HOTKEY",
    wallet_path: str | Path | None = None,
    devnet_state: str | Path | None = None,
) -> int:
    """The hotkey's uid; raises :class:`NotRegistered` with the command to register
    (see :func:`register_command` for the path arguments)."""
    uid = metagraph.uid_of(hotkey)
    if uid is None:
        raise NotRegistered(
            f"hotkey {hotkey} is not registered on netuid {netuid} ({network}); register it: "
            + register_command(
                netuid, network, wallet_name, wallet_hotkey,
                wallet_path=wallet_path, devnet_state=devnet_state,
            )
        )
    return uid


def register_command(
    netuid: int,
    network: str,
    wallet_name: str,
    hotkey: str,
    *,
    wallet_path: str | Path | None = None,
    devnet_state: str | Path | None = None,
) -> str:
    """The command that registers ``hotkey`` on ``netuid``: btcli, or the devnet admin CLI.

    ``wallet_path`` and ``devnet_state`` are added to the command only when they
    differ from the defaults, so the line can be pasted as it is.
    """
    wallets = non_default(wallet_path, DEFAULT_WALLET_PATH)
    if network == "devnet":
        state = non_default(devnet_state, DEFAULT_DEVNET_STATE)
        return (
            f"python -m neurons.devnet register --netuid {netuid} "
            f"--wallet.name {wallet_name} --wallet.hotkey {hotkey}"
            + (f" --wallet.path {wallets}" if wallets else "")
            + (f" --state {state}" if state else "")
        )
    return f"btcli subnets register --netuid {netuid} -n {network} -w {wallet_name} -H {hotkey}" + (
        f" --wallet-path {wallets}" if wallets else ""
    )


def non_default(path: str | Path | None, default: Path) -> Path | None:
    """``path`` expanded, or None when it is ``default`` (so hints stay short)."""
    if path is None:
        return None
    path = Path(path).expanduser()
    return None if path == default.expanduser() else path
