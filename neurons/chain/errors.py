"""The errors chain access raises: one root, one leaf per reason.

``str(e)`` of each is one line that says what to do.
"""

from __future__ import annotations

__all__ = [
    "ChainFailure",
    "UnknownNetwork",
    "ChainUnreachable",
    "WalletMissing",
    "NotRegistered",
    "UnknownSubnet",
    "ChainReadFailed",
]


class ChainFailure(Exception):
    """Root of the errors this module raises. ``str(e)`` is one line that says what to do."""


class UnknownNetwork(ChainFailure):
    """The network name is none of devnet, finney, test, local, or a ws(s):// URL."""


class ChainUnreachable(ChainFailure):
    """The chain endpoint did not answer."""


class WalletMissing(ChainFailure):
    """The wallet's coldkey or hotkey file does not exist."""


class NotRegistered(ChainFailure):
    """The hotkey has no uid on the netuid; the message names the btcli command to register."""


class UnknownSubnet(ChainFailure):
    """The netuid does not exist on this chain."""


class ChainReadFailed(ChainFailure):
    """The chain answered a read with an error."""
