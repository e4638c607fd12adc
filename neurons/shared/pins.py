"""Circuits pinned on chain: read the subnet owner's pin, compare it with ours, gate what runs.

The subnet owner publishes the set of circuits the subnet runs (``protocol.PinSet``:
each circuit's id and vk sha256) as the Commitments pallet's commitment of the
owner's hotkey (``SubnetOwnerHotkey``); ``python -m neurons.pins publish`` writes it
(:func:`publish_pin`). Both daemons read it at start and then each round (validator)
or resync (miner) through a :class:`PinWatcher`: one storage read per poll once the
owner's hotkey is known (it is read once, at the first poll that finds one).

What the watcher decides, per local circuit (:meth:`PinWatcher.allows`):

- no pin published (the owner committed nothing, or something that is no pinned set):
  every circuit runs, as before pins existed; said once (again only if that changes), as a
  WARNING where pins are enforced and as INFO elsewhere (a devnet subnet has no owner by
  default: a clean local run warns of nothing);
- a pin published: a circuit whose id and vk sha256 are in it runs. One outside it is,
  where pins are enforced (``enforce``: public networks, ``ChainSettings.enforces_pins``),
  neither served nor challenged; elsewhere (the devnet, a local node) it still runs. Either
  way each such circuit is ONE WARNING line naming it and what to do, logged when the pin
  read changes (a new pin mid-run applies at the next poll, without a restart);
- a poll that fails keeps the last decision (one WARNING per failure).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass

import bittensor as bt

from execution_layer import Circuit
from neurons.chain import ChainAccess, ChainFailure, WriteResult
from protocol import PinFormatError, PinnedCircuit, PinSet, decode_pin, encode_pin

__all__ = [
    "PinRead",
    "PinComparison",
    "PinWatcher",
    "pin_set_of",
    "compare",
    "read_pin",
    "publish_pin",
    "publish_command",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PinRead:
    """The subnet owner's pin as read once. ``pins`` is the published set, None when there
    is none: the subnet has no owner (``owner_hotkey`` None), the owner committed nothing
    (``block`` None), or its commitment is no pinned set (``problem`` says why)."""

    netuid: int
    owner_hotkey: str | None
    pins: PinSet | None = None
    block: int | None = None
    problem: str | None = None

    def describe(self) -> str:
        """One phrase naming the pin: where it was published and its digest."""
        if self.pins is None:
            return "no pin"
        return f"the pin published at block {self.block} (digest {self.pins.digest[:16]})"


@dataclass(frozen=True)
class PinComparison:
    """Local circuits against a pinned set. ``pinned``: local circuits whose id and vk sha256
    are pinned; ``unpinned``: local circuits whose id is not pinned; ``mismatched``: local
    circuits whose id is pinned with another vk sha256; ``absent``: pinned ids not loaded here."""

    pinned: tuple[Circuit, ...]
    unpinned: tuple[Circuit, ...]
    mismatched: tuple[tuple[Circuit, PinnedCircuit], ...]
    absent: tuple[PinnedCircuit, ...]

    @property
    def matches(self) -> bool:
        """Every local circuit is pinned and every pinned one is loaded here."""
        return not (self.unpinned or self.mismatched or self.absent)


def pin_set_of(circuits: Iterable[Circuit]) -> PinSet:
    """The pinned set these circuits make: their ids and vk sha256s."""
    return PinSet.of(PinnedCircuit(c.id, c.vk_sha256) for c in circuits)


def compare(circuits: Sequence[Circuit], pins: PinSet) -> PinComparison:
    pinned, unpinned, mismatched = [], [], []
    for c in circuits:
        entry = pins.find(c.id)
        if entry is None:
            unpinned.append(c)
        elif entry.vk_sha256 != c.vk_sha256:
            mismatched.append((c, entry))
        else:
            pinned.append(c)
    local = {c.id for c in circuits}
    absent = tuple(p for p in pins.circuits if p.circuit_id not in local)
    return PinComparison(tuple(pinned), tuple(unpinned), tuple(mismatched), absent)


async def read_pin(chain: ChainAccess, netuid: int, *, owner_hotkey: str | None = None) -> PinRead:
    """The owner's pin on ``netuid``: ``SubnetOwnerHotkey`` (skipped when ``owner_hotkey`` is
    given), then that hotkey's commitment, decoded. Raises ``ChainFailure`` when a read fails;
    a commitment that is no pinned set is a ``PinRead`` with its ``problem``, not an error."""
    owner = owner_hotkey or await chain.subnet_owner_hotkey(netuid)
    if owner is None:
        return PinRead(netuid, None)
    found = await chain.commitment(netuid, owner)
    if found is None:
        return PinRead(netuid, owner)
    try:
        return PinRead(netuid, owner, pins=decode_pin(found.fields), block=found.block)
    except PinFormatError as error:
        return PinRead(netuid, owner, block=found.block, problem=str(error))


def publish_command(netuid: int, network: str) -> str:
    """The command that publishes this checkout's circuits as the pin (for messages)."""
    return (f"python -m neurons.pins publish --netuid {netuid} --subtensor.network {network} "
            "--wallet.name <owner> --wallet.hotkey <owner hotkey>")


async def publish_pin(chain: ChainAccess, wallet: bt.Wallet, netuid: int, circuits: Sequence[Circuit]) -> WriteResult:
    """Commit ``circuits`` as the pin of ``netuid``, signed by the wallet's hotkey.

    Checks, in order, before signing anything: the wallet's hotkey is the subnet owner's
    (``SubnetOwnerHotkey``: the one hotkey whose commitment readers take as the pin; else
    ``ok=False`` naming both), and the set encodes (at most ``protocol.MAX_PINNED`` circuits).
    Then ``chain.set_commitment`` submits it; the chain's refusal
    (``SpaceLimitExceeded``: two publishes per epoch at most) comes back as ``ok=False``.
    """
    hotkey = wallet.hotkeypub.ss58_address
    try:
        owner = await chain.subnet_owner_hotkey(netuid)
    except ChainFailure as error:
        return WriteResult(ok=False, error=str(error))
    if owner != hotkey:
        whose = f"the owner's hotkey is {owner}" if owner else "the subnet has no owner"
        return WriteResult(
            ok=False,
            error=f"hotkey {hotkey} is not the subnet owner's on netuid {netuid} ({whose}): readers "
            "take only the owner's commitment as the pin; sign with the owner's --wallet.name and "
            "--wallet.hotkey",
        )
    try:
        fields = encode_pin(pin_set_of(circuits))
    except PinFormatError as error:
        return WriteResult(ok=False, error=f"cannot pin these circuits: {error}")
    return await chain.set_commitment(wallet, netuid, list(fields))


class PinWatcher:
    """Follows the owner's pin for one daemon's circuits (module docstring).

    ``read`` is one poll (default wiring: :func:`read_pin` on the daemon's chain, with the
    owner's hotkey remembered after the first read that finds it). ``role`` words the log
    lines ("served" for a miner, "challenged" for a validator). Until the first poll, and
    while no pin is published, every circuit is allowed.
    """

    def __init__(
        self,
        circuits: Sequence[Circuit],
        *,
        chain: ChainAccess,
        netuid: int,
        network: str,
        enforce: bool,
        role: str,
        read: Callable[[], Awaitable[PinRead]] | None = None,
    ) -> None:
        self.circuits = tuple(circuits)
        self.netuid = netuid
        self.network = network
        self.enforce = enforce
        self._role = role
        self._chain = chain
        self._owner: str | None = None
        self._read = read or self._read_chain
        self.current: PinRead | None = None
        self._allowed = frozenset(c.id for c in self.circuits)

    async def _read_chain(self) -> PinRead:
        pin = await read_pin(self._chain, self.netuid, owner_hotkey=self._owner)
        self._owner = pin.owner_hotkey
        return pin

    def allows(self, circuit_id: str) -> bool:
        """Whether the circuit may be served / challenged now."""
        return circuit_id in self._allowed

    def allowed(self) -> tuple[Circuit, ...]:
        return tuple(c for c in self.circuits if c.id in self._allowed)

    async def refresh(self) -> PinRead | None:
        """One poll. A read that raises keeps the last decision (one WARNING); a read that
        differs from the last one is applied and logged (module docstring). Returns the pin
        in force."""
        try:
            pin = await self._read()
        except Exception as error:  # a chain hiccup must not stop serving; the last pin stands
            log.warning("reading the circuit pin of netuid %d failed (%s); keeping %s", self.netuid,
                        error, "the last one" if self.current is not None else "every circuit")
            return self.current
        if pin != self.current:
            self.current = pin
            self._apply(pin)
        return self.current

    def _apply(self, pin: PinRead) -> None:
        if pin.pins is None:
            self._allowed = frozenset(c.id for c in self.circuits)
            log.log(logging.WARNING if self.enforce else logging.INFO,
                    "%s; every circuit is %s as before: the subnet owner publishes the pin with `%s`",
                    self._no_pin(pin), self._role, publish_command(self.netuid, self.network))
            return
        result = compare(self.circuits, pin.pins)
        ok = {c.id for c in result.pinned}
        self._allowed = frozenset(ok if self.enforce else {c.id for c in self.circuits})
        where = pin.describe()
        if not result.unpinned and not result.mismatched:
            log.info("circuits pinned on netuid %d by %s: all %d of ours are in it", self.netuid, where,
                     len(result.pinned))
        consequence = (f"not {self._role}" if self.enforce else
                       f"still {self._role} on {self.network} (pins are enforced on public networks only)")
        todo = ("update the model folders to the subnet's release (git pull) or drop the circuit; "
                "if the subnet runs it, its owner publishes it with `python -m neurons.pins publish`")
        for c in result.unpinned:
            log.warning("circuit %s (id %s) is not in %s on netuid %d: %s; %s",
                        c.name, c.id[:16], where, self.netuid, consequence, todo)
        for c, entry in result.mismatched:
            log.warning("circuit %s (id %s) is pinned by %s with vk sha256 %s but ours is %s: %s; %s",
                        c.name, c.id[:16], where, entry.vk_sha256[:16], c.vk_sha256[:16], consequence, todo)

    def _no_pin(self, pin: PinRead) -> str:
        if pin.owner_hotkey is None:
            return f"netuid {self.netuid} has no subnet owner, so no circuit pin"
        if pin.problem is not None:
            return (f"the subnet owner's commitment on netuid {self.netuid} (block {pin.block}) is no "
                    f"circuit pin ({pin.problem})")
        return f"the subnet owner ({pin.owner_hotkey}) has published no circuit pin on netuid {self.netuid}"
