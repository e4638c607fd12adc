"""The chain in unit tests: metagraph builders and ``FakeChain``, an in-memory ``ChainAccess``."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from bittensor.intents import normalize

from neurons.chain import ChainUnreachable, Commitment, CommitReveal, MetagraphView, NeuronInfo, WriteResult

if TYPE_CHECKING:
    import bittensor as bt

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


def metagraph_of(
    netuid: int, neurons: Iterable[NeuronInfo], block: int = 100, tempo: int = 360
) -> MetagraphView:
    return MetagraphView(netuid=netuid, block=block, tempo=tempo, neurons=tuple(neurons))


def serving(info: NeuronInfo, axon: tuple[str, int] | None) -> NeuronInfo:
    """``info`` with ``axon`` announced (None: not serving)."""
    return replace(info, axon=axon)


@dataclass
class FakeChain:
    """An in-memory ``ChainAccess`` for one subnet.

    ``neurons`` is the metagraph, by uid; tests edit it between rounds.
    ``submit`` refuses a write as the SDK's preflight does (``rate_limited``)
    while the signer's ``last_update`` is set and fewer than ``rate_limit``
    blocks old; any other intent is appended to ``submitted`` and, unless
    ``weights_error`` is set (a chain rejection), stamps the signer's
    ``last_update`` with the current block (as the chain does). A landed
    write's u16 row (the SDK's ``normalize`` of the intent) goes to ``rows``
    at once, or, with ``commit_reveal_enabled``, to ``commits`` (the result
    then carries a ``reveal_round``) until the test calls :meth:`reveal` (the
    chain applied them) or :meth:`drop_commits` (the chain dropped them:
    a reveal that failed a check).
    ``fail_reads`` makes that many next reads raise ``ChainUnreachable``;
    ``fail_ops`` names operations that always fail while present (a write in
    it returns the failed result a lost connection gives); ``hang_ops``
    names operations that never answer (a stalled connection), counting
    callers in ``hung``. ``owner_hotkey`` is the subnet owner's hotkey (None: no owner) and
    ``commitments`` the Commitments pallet's entries by hotkey; ``set_commitment`` stores the
    fields as the RPC would decode them (bytes as ``0x`` hex) at the current block, and
    counts every commitment read in ``commitment_reads``.
    """

    netuid: int
    neurons: dict[int, NeuronInfo]
    current_block: int = 1000
    rate_limit: int = 100
    tempo_blocks: int = 360
    weights_error: str | None = None
    version_key: int = 0  # the subnet's weights_version_key
    commit_reveal_enabled: bool = False
    reveal_period: int = 1  # RevealPeriodEpochs
    min_allowed_weights: int = 0
    max_weights_limit: int = 65535
    rows: dict[int, dict[int, int]] = field(default_factory=dict)  # Weights, by uid
    commits: list[tuple[int, dict[int, int]]] = field(default_factory=list)  # (uid, row), unrevealed
    fail_reads: int = 0
    fail_ops: set[str] = field(default_factory=set)
    hang_ops: set[str] = field(default_factory=set)
    hung: int = 0
    submitted: list[bt.SetWeights] = field(default_factory=list)
    axon_calls: list[tuple[str, str, int]] = field(default_factory=list)
    closed: bool = False
    owner_hotkey: str | None = None
    commitments: dict[str, Commitment] = field(default_factory=dict)
    commitment_reads: int = 0

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
        return replace(
            metagraph_of(self.netuid, sorted(self.neurons.values(), key=lambda n: n.uid),
                         block=self.current_block, tempo=self.tempo_blocks),
            min_allowed_weights=self.min_allowed_weights, max_weights_limit=self.max_weights_limit,
        )

    def reveal(self) -> None:
        """The chain revealed every pending commit, in order, and its checks passed."""
        for uid, row in self.commits:
            self.rows[uid] = row
        self.commits.clear()

    def drop_commits(self) -> None:
        """The chain revealed the pending commits and dropped them (a check failed)."""
        self.commits.clear()

    def set_neuron(self, uid: int, **changes: object) -> None:
        self.neurons[uid] = replace(self.neurons[uid], **changes)

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

    async def submit(self, intent: bt.SetWeights, wallet: object) -> WriteResult:
        if "submit" in self.fail_ops:
            return WriteResult(ok=False, error="fake chain: lost the connection")
        assert intent.netuid == self.netuid
        hotkey = wallet.hotkey.ss58_address  # type: ignore[attr-defined]
        me = next((n for n in self.neurons.values() if n.hotkey == hotkey), None)
        if me is None:
            return WriteResult(ok=False, error=f"set_weights: hotkey {hotkey} is not registered")
        since = self.current_block - me.last_update
        if self.rate_limit and me.last_update > 0 and since < self.rate_limit:
            return WriteResult(
                ok=False, rate_limited=True,
                error=f"rate limited: last set {since} blocks ago; retry in ~{self.rate_limit - since} blocks",
            )
        self.submitted.append(intent)
        if self.weights_error is not None:
            return WriteResult(ok=False, error=self.weights_error)
        self.neurons[me.uid] = replace(me, last_update=self.current_block)
        row = dict(zip(*normalize(intent.uids or [], intent.weights or [])))
        if self.commit_reveal_enabled:
            self.commits.append((me.uid, row))
            return WriteResult(ok=True, block=self.current_block, reveal_round=10_000 + self.current_block)
        self.rows[me.uid] = row
        return WriteResult(ok=True, block=self.current_block)

    async def weights_of(self, netuid: int, uid: int) -> dict[int, float]:
        await self._read("weights_of")
        row = self.rows.get(uid, {})
        total = sum(row.values())
        return {dest: value / total for dest, value in row.items()} if total else {}

    async def weights_row(self, netuid: int, uid: int) -> dict[int, int]:
        await self._read("weights_row")
        return dict(self.rows.get(uid, {}))

    async def commit_reveal(self, netuid: int) -> CommitReveal:
        await self._read("commit_reveal")
        return CommitReveal(enabled=self.commit_reveal_enabled, reveal_period_epochs=self.reveal_period)

    async def weights_version_key(self, netuid: int) -> int:
        await self._read("weights_version_key")
        return self.version_key

    async def subnet_owner_hotkey(self, netuid: int) -> str | None:
        await self._read("subnet_owner_hotkey")
        return self.owner_hotkey

    async def commitment(self, netuid: int, hotkey: str) -> Commitment | None:
        await self._read("commitment")
        self.commitment_reads += 1
        return self.commitments.get(hotkey)

    async def set_commitment(self, wallet: object, netuid: int, fields: list) -> WriteResult:
        hotkey = wallet.hotkey.ss58_address  # type: ignore[attr-defined]
        decoded = tuple({k: "0x" + bytes(v).hex() for k, v in f.items()} for f in fields)
        self.commitments[hotkey] = Commitment(hotkey=hotkey, block=self.current_block, fields=decoded)
        return WriteResult(ok=True, block=self.current_block)

    async def close(self) -> None:
        self.closed = True
