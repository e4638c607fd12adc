"""The one chain module the neurons use (contract stub; implementation follows).

Everything the miner and validator read from or write to a Bittensor chain
goes through here, on top of the bittensor 11 SDK's ``Client``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Protocol

__all__ = [
    "ChainFailure",
    "UnknownNetwork",
    "ChainUnreachable",
    "WalletMissing",
    "NotRegistered",
    "NeuronInfo",
    "MetagraphView",
    "WriteResult",
    "ChainAccess",
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


@dataclass(frozen=True)
class NeuronInfo:
    uid: int
    hotkey: str
    coldkey: str
    stake: float  # total stake in TAO (alpha on dynamic subnets, as the metagraph reports)
    validator_permit: bool
    axon: tuple[str, int] | None  # (ip, port) the neuron announced, None when not serving
    incentive: float
    last_update: int  # block of the neuron's last weight update


@dataclass(frozen=True)
class MetagraphView:
    netuid: int
    block: int
    neurons: tuple[NeuronInfo, ...]

    def by_uid(self, uid: int) -> NeuronInfo | None:
        for n in self.neurons:
            if n.uid == uid:
                return n
        return None

    def by_hotkey(self, hotkey: str) -> NeuronInfo | None:
        for n in self.neurons:
            if n.hotkey == hotkey:
                return n
        return None

    def uid_of(self, hotkey: str) -> int | None:
        n = self.by_hotkey(hotkey)
        return None if n is None else n.uid


@dataclass(frozen=True)
class WriteResult:
    """Outcome of a chain write. ``error`` is one readable line, set exactly when not ``ok``."""

    ok: bool
    error: str | None = None
    block: int | None = None


class ChainAccess(Protocol):
    """What the neurons need from a chain; ``Chain`` is the real one, tests may fake it."""

    async def block(self) -> int: ...

    async def metagraph(self, netuid: int) -> MetagraphView: ...

    async def serve_axon(self, wallet: object, netuid: int, ip: str, port: int) -> WriteResult: ...

    async def set_weights(
        self, wallet: object, netuid: int, weights: Mapping[int, float], version_key: int
    ) -> WriteResult: ...

    async def weights_rate_limit(self, netuid: int) -> int: ...

    async def tempo(self, netuid: int) -> int: ...

    async def weights_of(self, netuid: int, uid: int) -> dict[int, float]: ...

    async def close(self) -> None: ...
