"""The chain in unit tests: metagraph builders and ``FakeChain``, an in-memory ``ChainAccess``."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace

from neurons.chain import ChainUnreachable, MetagraphView, NeuronInfo, WriteResult

__all__ = ["neuron", "metagraph_of", "serving", "FakeChain"]


def neuron(uid: int, hotkey: str, *, stake: float = 1000.0, permit: bool = True) -> NeuronInfo:
    """A registered neuron, not serving, with ``stake`` TAO and a validator permit unless told."""
    return NeuronInfo(
        uid=uid,
        hotkey=hotkey,
        coldkey="5" + "C" * 47,
        stake=stake,
        validator_permit=permit,
        axon=None,
        incentive=0.0,
        last_update=0,
    )


def metagraph_of(netuid: int, neurons: Iterable[NeuronInfo], block: int = 100) -> MetagraphView:
    return MetagraphView(netuid=netuid, block=block, neurons=tuple(neurons))


def serving(info: NeuronInfo, axon: tuple[str, int] | None) -> NeuronInfo:
    """``info`` with ``axon`` announced (None: not serving)."""
    return replace(info, axon=axon)


@dataclass
class FakeChain:
    """An in-memory ``ChainAccess`` for one subnet.

    ``neurons`` is the metagraph, by uid; tests edit it between rounds.
    ``set_weights`` records every call in ``weight_calls`` and, unless
    ``weights_error`` is set, stamps the caller's ``last_update`` with the
    current block (as the chain does). ``fail_reads`` makes that many next
    reads raise ``ChainUnreachable``; ``fail_ops`` names operations that
    always fail while present; ``hang_ops`` names operations that never
    answer (a stalled connection), counting callers in ``hung``.
    """

    netuid: int
    neurons: dict[int, NeuronInfo]
    current_block: int = 1000
    rate_limit: int = 100
    tempo_blocks: int = 360
    weights_error: str | None = None
    fail_reads: int = 0
    fail_ops: set[str] = field(default_factory=set)
    hang_ops: set[str] = field(default_factory=set)
    hung: int = 0
    weight_calls: list[tuple[int, dict[int, float], int]] = field(default_factory=list)
    axon_calls: list[tuple[str, str, int]] = field(default_factory=list)
    closed: bool = False

    async def _read(self, op: str) -> None:
        if op in self.hang_ops:
            self.hung += 1
            await asyncio.Event().wait()
        if op in self.fail_ops:
            raise ChainUnreachable(f"fake chain: {op} is down")
        if self.fail_reads > 0:
            self.fail_reads -= 1
            raise ChainUnreachable(f"fake chain: {op} failed (connection lost)")

    def view(self) -> MetagraphView:
        return metagraph_of(self.netuid, sorted(self.neurons.values(), key=lambda n: n.uid),
                            block=self.current_block)

    def set_neuron(self, uid: int, **changes: object) -> None:
        self.neurons[uid] = replace(self.neurons[uid], **changes)

    async def block(self) -> int:
        await self._read("block")
        return self.current_block

    async def metagraph(self, netuid: int) -> MetagraphView:
        await self._read("metagraph")
        assert netuid == self.netuid
        return self.view()

    async def serve_axon(self, wallet: object, netuid: int, ip: str, port: int) -> WriteResult:
        hotkey = wallet.hotkey.ss58_address  # type: ignore[attr-defined]
        self.axon_calls.append((hotkey, ip, port))
        for uid, n in self.neurons.items():
            if n.hotkey == hotkey:
                self.neurons[uid] = replace(n, axon=(ip, port))
                return WriteResult(ok=True, block=self.current_block)
        return WriteResult(ok=False, error=f"hotkey {hotkey} is not registered")

    async def set_weights(
        self, wallet: object, netuid: int, weights: Mapping[int, float], version_key: int
    ) -> WriteResult:
        self.weight_calls.append((netuid, dict(weights), version_key))
        if self.weights_error is not None:
            return WriteResult(ok=False, error=self.weights_error)
        hotkey = wallet.hotkey.ss58_address  # type: ignore[attr-defined]
        for uid, n in self.neurons.items():
            if n.hotkey == hotkey:
                self.neurons[uid] = replace(n, last_update=self.current_block)
        return WriteResult(ok=True, block=self.current_block)

    async def weights_rate_limit(self, netuid: int) -> int:
        await self._read("weights_rate_limit")
        return self.rate_limit

    async def tempo(self, netuid: int) -> int:
        await self._read("tempo")
        return self.tempo_blocks

    async def weights_of(self, netuid: int, uid: int) -> dict[int, float]:
        await self._read("weights_of")
        return {}

    async def close(self) -> None:
        self.closed = True
