"""What the neurons see of a chain: neurons, a metagraph snapshot, write outcomes,
and the narrow :class:`ChainAccess` protocol the roles depend on."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import bittensor as bt

__all__ = ["NeuronInfo", "MetagraphView", "WriteResult", "CommitReveal", "Commitment", "ChainAccess"]


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
    registered_at: int = 0  # BlockAtRegistration: kept by a hotkey swap, set anew by a registration


@dataclass(frozen=True)
class MetagraphView:
    """A subnet's neurons as read at ``block``, with the subnet's ``tempo`` (blocks per epoch).

    ``min_allowed_weights`` and ``max_weights_limit`` (a u16 fraction of 65535;
    65535 is no limit) are the subnet's weight rules, carried by the same
    runtime record (subtensor ``rpc_info/metagraph.rs``, ``Metagraph``); the
    defaults bind nothing.
    """

    netuid: int
    block: int
    tempo: int
    neurons: tuple[NeuronInfo, ...]
    min_allowed_weights: int = 0
    max_weights_limit: int = 65535

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
    """Outcome of a chain write. ``error`` is one readable line, set exactly when not ``ok``.

    ``rate_limited`` is True only when the write was refused before signing
    because the subnet's weights rate limit has not passed (nothing was
    submitted; the same write may succeed a few blocks later). ``block`` is
    the block the write was included in, when known. ``reveal_round`` is set
    when a weight write went through commit-reveal (the SDK's ``SetWeights``
    chose a timelocked commit: it is the drand round the commit is encrypted
    to); None for a plaintext write and every other write.
    """

    ok: bool
    error: str | None = None
    block: int | None = None
    rate_limited: bool = False
    reveal_round: int | None = None


@dataclass(frozen=True)
class CommitReveal:
    """A subnet's commit-reveal setting: ``enabled`` (``CommitRevealWeightsEnabled``) and
    ``reveal_period_epochs`` (``RevealPeriodEpochs``): a commit made in epoch ``e`` is
    revealed at the start of epoch ``e + reveal_period_epochs`` (subtensor
    ``coinbase/reveal_commits.rs::reveal_crv3_commits_for_subnet``)."""

    enabled: bool
    reveal_period_epochs: int


@dataclass(frozen=True)
class Commitment:
    """A hotkey's ``Commitments.CommitmentOf`` entry on a subnet: the ``block`` it was set at
    and its ``fields`` exactly as the SDK decodes them (one-key dicts such as
    ``{"Sha256": "0x…"}``; unit variants as their name)."""

    hotkey: str
    block: int
    fields: tuple[Any, ...]


class ChainAccess(Protocol):
    """What the neurons need from a chain; ``Chain`` is the real one, tests may fake it."""

    async def metagraph(self, netuid: int) -> MetagraphView: ...

    async def serve_axon(self, wallet: bt.Wallet, netuid: int, ip: str, port: int) -> WriteResult: ...

    async def submit(self, intent: bt.Intent, wallet: bt.Wallet) -> WriteResult:
        """Sign and submit ``intent`` exactly as built; every chain-side failure is a result."""
        ...

    async def weights_of(self, netuid: int, uid: int) -> dict[int, float]:
        """The weights ``uid`` last set, normalised to sum 1 ({} when none)."""
        ...

    async def weights_row(self, netuid: int, uid: int) -> dict[int, int]:
        """``uid``'s ``Weights`` row as the chain stores it: destination uid to u16 value."""
        ...

    async def commit_reveal(self, netuid: int) -> CommitReveal:
        """Whether the subnet's weights go through commit-reveal, and its reveal period."""
        ...

    async def weights_version_key(self, netuid: int) -> int: ...

    async def subnet_owner_hotkey(self, netuid: int) -> str | None:
        """The subnet owner's hotkey (``SubnetOwnerHotkey``), None when the subnet has none."""
        ...

    async def commitment(self, netuid: int, hotkey: str) -> Commitment | None:
        """``hotkey``'s commitment on ``netuid`` (one storage read), None when it made none."""
        ...

    async def set_commitment(self, wallet: bt.Wallet, netuid: int, fields: list[Any]) -> WriteResult:
        """Commit ``fields`` for the wallet's hotkey on ``netuid``; a refusal is a result."""
        ...

    async def close(self) -> None: ...
