"""The on-chain circuit pin, for ``python -m receipts verify --network … --netuid …``.

Offline checking needs no chain; asked for a network, the verifier also checks that the
receipt's circuit is one the subnet owner pinned (``protocol.PinSet`` in the commitment of
the subnet owner's hotkey; ``neurons.shared.pins`` is how the neurons read the same). Reading
it takes two storage reads through chain access (``neurons.chain``, the bittensor SDK); the
devnet is imported only for ``--network devnet``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from neurons.chain import ChainAccess, connect
from protocol import PinFormatError, PinSet, decode_pin

__all__ = ["OnChainPin", "read_onchain_pin", "pin_of"]


@dataclass(frozen=True)
class OnChainPin:
    """The pin of ``netuid`` on ``network`` as read: ``pins`` is None when none is published
    (``why`` says so: no owner, no commitment, or one that is no pin)."""

    network: str
    netuid: int
    pins: PinSet | None
    block: int | None = None
    why: str = ""

    @property
    def where(self) -> str:
        at = f" at block {self.block}" if self.block is not None else ""
        return f"the pin of netuid {self.netuid} on {self.network}{at}"


async def pin_of(chain: ChainAccess, network: str, netuid: int) -> OnChainPin:
    """Read the owner's pin through ``chain``; ``ChainFailure`` when a read fails."""
    owner = await chain.subnet_owner_hotkey(netuid)
    if owner is None:
        return OnChainPin(network, netuid, None, why=f"netuid {netuid} on {network} has no subnet owner")
    found = await chain.commitment(netuid, owner)
    if found is None:
        return OnChainPin(network, netuid, None,
                          why=f"the subnet owner of netuid {netuid} on {network} has published no circuit pin")
    try:
        return OnChainPin(network, netuid, decode_pin(found.fields), block=found.block)
    except PinFormatError as error:
        return OnChainPin(network, netuid, None, block=found.block,
                          why=f"the subnet owner's commitment on netuid {netuid} is no circuit pin ({error})")


async def read_onchain_pin(network: str, netuid: int, *, devnet_state: Path | None = None) -> OnChainPin:
    """Connect to ``network`` (``devnet``: the state file ``devnet_state``), read, close."""
    if network == "devnet":
        from neurons.devnet.connect import connect_devnet

        chain = await connect_devnet(devnet_state, netuid=netuid)
    else:
        chain = await connect(network)
    try:
        return await pin_of(chain, network, netuid)
    finally:
        await chain.close()
