"""A client's input to a well-scored miner, verified as a challenge is, retried within the deadline.

:meth:`Dispatcher.answer` is the validator API's unit of work. In order:

1. the validator may ask miners for work — its last round's metagraph exists and shows it
   registered, permitted and staked (``neurons.validating.standing``), else
   :class:`Unavailable`;
2. candidates — serving miners other than us (at a globally routable address unless
   ``allow_private_axons``) whose capabilities (``CapabilityBook``) are known and list the
   circuit. A miner whose capabilities are unknown is *not* a candidate: it may not serve
   the circuit, and a client's time is not spent finding out. None: :class:`Unanswered`
   with no attempt;
3. ordered by the validator's moving average (best first; equal scores in random order,
   from ``rng``, so equal miners share the load);
4. each attempt takes the untried candidate that is best placed: first one with a free
   slot in its lane (``neurons.validating.slots.MinerSlots``: never more requests of ours
   in flight than the lane takes at once), else the one with the fewest requests waiting
   for its lane, and waits for a slot there, as a client request (before challenges), at
   most until the deadline;
5. the request is ``challenge.ask_miner``: an ordinary ``ProofRequest`` (the circuit's
   timeout as its deadline) through the same ``MinerClient``, checked as a challenge is
   (signature, echo, proof against the client's input, outputs, lateness), its answer
   awaited at most until the client's deadline. One check is left out on purpose: the
   replay guard's "proof bytes seen before". It stops a miner passing off another's proof
   of a *fresh* validator input; a client's input is not fresh (it may ask the same one
   twice, and a deterministic or caching prover then sends the same bytes), and a proof of
   it bound by the SNARK to exactly these inputs is what the client asked for, whoever
   made it first;
6. accepted: the signed receipt (``receipts.build_receipt``; also kept in the receipts
   folder when there is one) and :class:`Answered`. Failed: the next candidate, while
   time is left and fewer than ``max_attempts`` were asked; then :class:`Unanswered`
   listing every attempt and why it failed.

Client answers never reach scoring (docs/scoring.md, "Client requests do not count"): a
failed or invalid answer is logged (WARNING for an answer that cheats or breaks the
protocol, INFO for a miner that was busy or slow) and counted in ``api_attempts{outcome}``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Protocol

import bittensor as bt
import numpy as np

from neurons.chain import MetagraphView, NeuronInfo
from neurons.shared.addresses import routable
from neurons.validating.capabilities import CapabilityBook
from neurons.validating.challenge import ChallengeCircuit, Outcome, ResponseRecord, VerifyFn, ask_miner
from neurons.validating.client import MinerClient
from neurons.validating.receipts import ReceiptFolder, ReceiptError, build_receipt
from neurons.validating.slots import MinerSlots, NoSlot, lane_key
from neurons.validating.standing import standing_in
from protocol import encode_receipt
from utils.metrics import Metrics

__all__ = ["MinerDirectory", "Attempt", "Answered", "Unanswered", "Unavailable", "Dispatcher"]

log = logging.getLogger(__name__)

# Outcomes that say the miner cheated or broke the protocol: a WARNING, not INFO.
_SUSPECT = frozenset({Outcome.REJECTED, Outcome.BAD_SIGNATURE, Outcome.BAD_RESPONSE})


class MinerDirectory(Protocol):
    """What the dispatcher reads of the validator: ``neurons.validating.loop.Validator`` is the real one."""

    @property
    def metagraph(self) -> MetagraphView | None:
        """The metagraph of the last round (None before the first)."""
        ...

    def score_of(self, neuron: NeuronInfo) -> float:
        """The validator's moving average for ``neuron`` (0 for a uid whose hotkey changed)."""
        ...


@dataclass(frozen=True)
class Attempt:
    """One miner asked for a client request that it did not answer acceptably."""

    uid: int
    hotkey: str
    outcome: Outcome
    reason: str


@dataclass(frozen=True)
class Answered:
    """A verified answer: the proof's outputs, who proved them, and the signed receipt file."""

    request_id: str
    outputs: tuple[float, ...]
    uid: int
    hotkey: str
    attempts: int  # miners asked, this one included
    receipt: bytes  # protocol.encode_receipt of the signed receipt


@dataclass(frozen=True)
class Unanswered:
    """No verified answer within the deadline: ``reason`` one line, ``attempts`` who failed how."""

    reason: str
    attempts: tuple[Attempt, ...]


@dataclass(frozen=True)
class Unavailable:
    """The validator cannot ask miners for work now; ``reason`` says why and what to do."""

    reason: str


@dataclass(frozen=True)
class _Candidate:
    neuron: NeuronInfo
    key: Hashable
    capacity: int
    score: float


class Dispatcher:
    """Answers client requests through miners (see the module docstring).

    ``signer`` signs the receipts (the validator's hotkey); ``clock`` is unix seconds (the
    request's deadline, the receipt's times) and ``monotonic`` measures the client's deadline.
    """

    def __init__(
        self,
        *,
        hotkey: str,
        directory: MinerDirectory,
        capabilities: CapabilityBook,
        client: MinerClient,
        verify: VerifyFn,
        slots: MinerSlots,
        signer: bt.Signer,
        min_stake: float = 0.0,
        allow_private_axons: bool = False,
        receipts: ReceiptFolder | None = None,
        metrics: Metrics | None = None,
        max_attempts: int = 3,
        rng: np.random.Generator | None = None,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self.hotkey = hotkey
        self.directory = directory
        self.capabilities = capabilities
        self.client = client
        self.verify = verify
        self.slots = slots
        self._signer = signer
        self.min_stake = min_stake
        self.allow_private_axons = allow_private_axons
        self.receipts = receipts
        self.metrics = metrics if metrics is not None else Metrics()
        self.max_attempts = max_attempts
        self.rng = rng if rng is not None else np.random.default_rng()
        self._clock = clock
        self._monotonic = monotonic

    async def answer(
        self, circuit: ChallengeCircuit, inputs: Sequence[float], deadline_s: float
    ) -> Answered | Unanswered | Unavailable:
        """A verified answer to ``inputs`` on ``circuit`` within ``deadline_s`` seconds, or why not.

        ``inputs`` must already fit the circuit (the API checks them). Never raises for
        anything a miner does.
        """
        until = self._monotonic() + deadline_s
        view = self.directory.metagraph
        if view is None:
            return Unavailable("the validator has not read the metagraph yet (its first round has not run); try again shortly")
        standing = standing_in(view, self.hotkey, min_stake=self.min_stake)
        if not standing.permitted:
            return Unavailable(f"miners would refuse this validator: {standing.reason}")
        candidates = self._candidates(view, circuit.id)
        if not candidates:
            serving = sum(1 for n in view.neurons if n.axon is not None and n.hotkey != self.hotkey)
            return Unanswered(
                f"no miner is known to serve {circuit.name}: of {serving} serving miners none lists it in "
                "capabilities this validator has read (they are asked every few minutes); try again later",
                (),
            )
        failures: list[Attempt] = []
        while candidates and len(failures) < self.max_attempts:
            left = until - self._monotonic()
            if left <= 0:
                break
            chosen = self._pick(candidates)
            candidates.remove(chosen)
            try:
                async with self.slots.hold(chosen.key, chosen.capacity, client=True, timeout=left):
                    left = until - self._monotonic()
                    asked = await ask_miner(
                        neuron=chosen.neuron, circuit=circuit, inputs=inputs, client=self.client,
                        verify=self.verify, guard=None, clock=self._clock, budget_s=left,
                    )
            except NoSlot:
                return Unanswered(self._exhausted(circuit, failures, busy=True), tuple(failures))
            record = asked.record
            self.metrics.api_attempts.labels(outcome=record.outcome.value).inc()
            if record.verified and record.outputs is not None:
                try:
                    receipt = build_receipt(
                        signer=self._signer, request=asked.request, query=asked.query,
                        requested_at=asked.requested_at, outputs=record.outputs,
                    )
                except ReceiptError as error:  # an accepted answer always carries what a receipt needs
                    log.warning("uid %d: accepted answer without a receipt: %s", record.uid, error)
                    failures.append(Attempt(record.uid, record.hotkey, Outcome.VALIDATOR_ERROR, str(error)))
                    continue
                if self.receipts is not None:
                    self.receipts.store(receipt)
                return Answered(
                    asked.request.request_id, record.outputs, record.uid, record.hotkey,
                    len(failures) + 1, encode_receipt(receipt),
                )
            failures.append(self._failed(record, circuit))
        return Unanswered(self._exhausted(circuit, failures, busy=False), tuple(failures))

    def _candidates(self, view: MetagraphView, circuit_id: str) -> list[_Candidate]:
        found = []
        for neuron in view.neurons:
            axon = neuron.axon
            if axon is None or neuron.hotkey == self.hotkey:
                continue
            if not self.allow_private_axons and not routable(axon[0]):
                continue
            caps = self.capabilities.served(neuron)
            lane = caps.lane_of(circuit_id) if caps is not None else None
            if lane is None:
                continue
            found.append(_Candidate(neuron, lane_key(neuron.uid, neuron.hotkey, lane.circuits), lane.max_concurrent,
                                    self.directory.score_of(neuron)))
        order = self.rng.permutation(len(found))  # shuffled first: sort is stable, so ties stay random
        return sorted((found[i] for i in order), key=lambda c: -c.score)

    def _pick(self, candidates: list[_Candidate]) -> _Candidate:
        """The best-scored candidate with a free slot, else the one with the shortest wait."""
        for candidate in candidates:
            if self.slots.free(candidate.key, candidate.capacity) > 0:
                return candidate
        return min(candidates, key=lambda c: self.slots.waiting(c.key))  # min keeps the first: best score

    def _failed(self, record: ResponseRecord, circuit: ChallengeCircuit) -> Attempt:
        level = logging.WARNING if record.outcome in _SUSPECT else logging.INFO
        log.log(level, "API request on %s: uid %d %s failed (%s): %s; not scored",
                circuit.name, record.uid, record.hotkey[:10], record.outcome.value, record.reason)
        return Attempt(record.uid, record.hotkey, record.outcome, record.reason or record.outcome.value)

    @staticmethod
    def _exhausted(circuit: ChallengeCircuit, failures: list[Attempt], *, busy: bool) -> str:
        tried = "; ".join(f"uid {a.uid} {a.outcome.value}: {a.reason}" for a in failures)
        what = f"{len(failures)} miner(s) tried" + (f" ({tried})" if tried else "")
        if busy:
            return f"no verified answer on {circuit.name} before the deadline: {what}, then every miner serving it was busy"
        return f"no verified answer on {circuit.name} before the deadline: {what}"

