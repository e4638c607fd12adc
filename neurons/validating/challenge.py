"""One challenge: fresh inputs to one miner, its answer checked and measured.

``challenge_miner`` is the validator's unit of work. It never raises for
anything a miner does: every way a response can go wrong becomes a
``ResponseRecord`` with ``verified=False``, an ``Outcome`` naming the kind of
failure (for metrics) and a one-line ``reason`` (for people); it scores zero.
A verifier that raises instead of giving a verdict is the validator's
failure, not the miner's (the verifier turns every bad proof, even one that
panics ezkl, into a rejected verdict): the record is ``validator_error``,
which the loop leaves out of the miner's score. So is a 403 ``forbidden``
refusal (the miner's policy says *we* may not ask: no permit, too little
stake, or the miner's metagraph is behind ours): ``forbidden``, also left out
(``Outcome.charged`` is False for both) — by the loop, only within its grace
after our permit (``loop.FORBIDDEN_GRACE_S``); past it a ``forbidden`` is charged. When the verifier's worker
died (``WorkerCrashed``: one death fails every verification waiting in the
pool, which is then rebuilt) the proof is verified once more first.
Checks, in order, with the outcome each failure gets: transport
(``no_response`` for a timeout or no connection, ``forbidden`` for a 403
whose ``ErrorResponse`` code is ``forbidden``, ``http_error`` for any other
refusal, ``bad_signature``, ``bad_response`` for a malformed body, another protocol
version or an answer to another request or circuit: ``MinerClient.prove`` checks
that echo), replay guard (proof bytes seen before: ``replayed``), then the proof
itself against the validator's own inputs (circuit, input binding, SNARK) in a
worker process (``rejected``; ``validator_error`` if the verifier raises), then
the response's ``outputs`` against the proof's (``bad_response``: the recorded
outputs come from the proof, but a client reading the response would be misled),
then the deadline (``late``: the client waits :func:`late_grace` past the
circuit's timeout, so a valid proof that arrives after it is told apart from no
answer; it scores zero all the same).

With ``receipts`` (a ``ReceiptFolder``), an accepted answer's signed receipt is
written there, in a worker thread so the round's other challenges go on; keeping it
never changes the record (a failed write is one WARNING).

:func:`ask_miner` is the same request and the same checks for inputs given by someone
else (the validator's API: ``neurons.validating.dispatch``): a challenge is
``ask_miner`` on a fresh sample.

The validator's inputs come from ``sample(circuit, rng)``; the real one is
``InputSampler``: ``models.sampling`` over the circuit's pinned sample pool
and metadata.json input spec. A ``Circuit`` does not sample itself.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, Awaitable, Callable, Protocol, Sequence, TypedDict, Unpack

import numpy as np

from execution_layer.types import Proof, Verdict
from models.metadata import InputSpec
from models.sampling import Sampler
from neurons.chain import NeuronInfo
from neurons.shared.proofs import proof_of
from neurons.shared.prover_pool import WorkerCrashed
from neurons.validating.client import MinerClient, QueryOutcome, QueryStatus
from neurons.validating.receipts import ReceiptFolder
from neurons.validating.replay_guard import ReplayGuard
from protocol import ErrorCode, ErrorResponse, ProofRequest, ProofResponse

__all__ = [
    "Outcome", "ResponseRecord", "challenge_miner", "VerifyFn", "SampleFn", "InputSampler",
    "ChallengeCircuit", "late_grace", "Asked", "ask_miner",
]

log = logging.getLogger(__name__)

VerifyFn = Callable[[str, Proof, Sequence[float]], Awaitable[Verdict]]


class ChallengeCircuit(Protocol):
    """What a challenge needs of a circuit: ``execution_layer.Circuit`` is the real one,
    tests hand in fakes. Read-only, as a frozen ``Circuit`` is."""

    @property
    def id(self) -> str: ...

    @property
    def name(self) -> str: ...

    @property
    def timeout_s(self) -> float:
        """Seconds a miner has for a proof, request sent to answer read."""
        ...

    @property
    def spec(self) -> InputSpec:
        """The model's input: shape, range, sampler noise (from its metadata.json)."""
        ...

    @property
    def samples_path(self) -> Path:
        """The held-out samples fresh inputs are drawn near."""
        ...


SampleFn = Callable[[ChallengeCircuit, np.random.Generator], "np.ndarray[Any, Any]"]
"""(circuit, rng) -> one fresh input (any shape; it is sent flattened)."""


class InputSampler:
    """The validator's ``SampleFn``: a fresh input for a circuit, drawn with ``models.sampling``.

    Draws from ``Sampler(circuit.spec, <circuit.samples_path>)``: a held-out
    sample plus noise, clipped to the spec's range. Each circuit's pool is read
    (and checked against its spec: ``models.metadata.ModelError`` if it does not fit)
    on its first draw and kept, so the file is read once, not once per challenge.
    """

    def __init__(self) -> None:
        self._samplers: dict[str, Sampler] = {}

    def __call__(self, circuit: ChallengeCircuit, rng: np.random.Generator) -> np.ndarray[Any, Any]:
        sampler = self._samplers.get(circuit.id)
        if sampler is None:
            sampler = self._samplers[circuit.id] = Sampler.load(circuit.samples_path, circuit.spec)
        return sampler.draw(rng)


class Outcome(StrEnum):
    """The kind of result one challenge had; a metrics label and a field in reports.jsonl."""

    ACCEPTED = "accepted"
    NO_RESPONSE = "no_response"  # timeout, or no connection
    HTTP_ERROR = "http_error"  # the miner answered, but not 200 (busy, refused, failed to prove)
    BAD_RESPONSE = "bad_response"  # unreadable body, or not an answer to this request
    BAD_SIGNATURE = "bad_signature"  # not signed by the miner's hotkey for this request
    REPLAYED = "replayed"  # proof bytes seen before
    REJECTED = "rejected"  # the proof does not verify against our inputs
    LATE = "late"  # a valid proof after the circuit's timeout
    VALIDATOR_ERROR = "validator_error"  # the validator broke on this challenge; not the miner's fault
    FORBIDDEN = "forbidden"  # 403 forbidden: the miner's policy refuses us (permit, stake); charged past the grace

    @property
    def charged(self) -> bool:
        """Whether this outcome counts in the miner's score: False for the validator's own problems."""
        return self not in _NOT_CHARGED


_NOT_CHARGED = frozenset({Outcome.VALIDATOR_ERROR, Outcome.FORBIDDEN})


_FROM_QUERY = {
    QueryStatus.TIMEOUT: Outcome.NO_RESPONSE,
    QueryStatus.CONNECT_ERROR: Outcome.NO_RESPONSE,
    QueryStatus.HTTP_ERROR: Outcome.HTTP_ERROR,
    QueryStatus.BAD_RESPONSE: Outcome.BAD_RESPONSE,
    QueryStatus.BAD_SIGNATURE: Outcome.BAD_SIGNATURE,
}


@dataclass(frozen=True)
class ResponseRecord:
    """What one challenge of one miner came to.

    ``verified`` is exactly ``outcome is Outcome.ACCEPTED`` (kept as a field so
    reports.jsonl readers need not know the outcomes); ``reason`` is None then.
    """

    uid: int
    hotkey: str
    circuit_id: str
    circuit_name: str
    verified: bool
    outcome: Outcome
    reason: str | None  # why it failed, one line for people; None when verified
    response_s: float  # wall time seen by the validator, request sent to body read
    proof_bytes: int  # raw proof bytes the miner sent (0 when none)
    outputs: tuple[float, ...] | None
    prove_s: float | None  # the miner's own report, for information only
    verify_s: float

    def __post_init__(self) -> None:
        if self.verified != (self.outcome is Outcome.ACCEPTED):
            raise ValueError(f"verified={self.verified} contradicts outcome {self.outcome}")

    @classmethod
    def failure(
        cls, neuron: NeuronInfo, circuit: ChallengeCircuit, outcome: Outcome, reason: str, *,
        response_s: float = 0.0, proof_bytes: int = 0, prove_s: float | None = None,
    ) -> ResponseRecord:
        """A challenge of ``neuron`` on ``circuit`` that failed with ``outcome``."""
        return cls(
            uid=neuron.uid, hotkey=neuron.hotkey, circuit_id=circuit.id, circuit_name=circuit.name,
            verified=False, outcome=outcome, reason=reason, response_s=response_s,
            proof_bytes=proof_bytes, outputs=None, prove_s=prove_s, verify_s=0.0,
        )


class _Measured(TypedDict, total=False):
    """What a failed challenge had measured (``ResponseRecord.failure``'s keywords)."""

    response_s: float
    proof_bytes: int
    prove_s: float | None


async def challenge_miner(
    *,
    neuron: NeuronInfo,
    circuit: ChallengeCircuit,
    client: MinerClient,
    verify: VerifyFn,
    guard: ReplayGuard,
    sample: SampleFn,
    rng: np.random.Generator,
    clock: Callable[[], float] = time.time,
    receipts: ReceiptFolder | None = None,
) -> ResponseRecord:
    """Challenge ``neuron`` on ``circuit`` with a fresh ``sample(circuit, rng)``; see the module docstring."""
    # Samplers add noise to real samples, so a repeat is astronomically rare;
    # the guard makes "never the same input twice" a guarantee, not a hope.
    inputs = guard.fresh_input(circuit.id, lambda: sample(circuit, rng))
    asked = await ask_miner(
        neuron=neuron, circuit=circuit, inputs=tuple(float(v) for v in np.asarray(inputs).reshape(-1)),
        client=client, verify=verify, guard=guard, clock=clock,
    )
    record = asked.record
    if receipts is not None and record.verified and record.outputs is not None:
        await asyncio.to_thread(
            receipts.keep, request=asked.request, query=asked.query, requested_at=asked.requested_at,
            outputs=record.outputs,
        )
    return record


@dataclass(frozen=True)
class Asked:
    """One proof request to one miner and its checked answer: the record, and what a receipt
    of an accepted answer is built from (the request as sent, the query with its raw body and
    signature headers, and when it was sent)."""

    record: ResponseRecord
    request: ProofRequest
    query: QueryOutcome[ProofResponse]
    requested_at: float


async def ask_miner(
    *,
    neuron: NeuronInfo,
    circuit: ChallengeCircuit,
    inputs: Sequence[float],
    client: MinerClient,
    verify: VerifyFn,
    guard: ReplayGuard | None,
    clock: Callable[[], float] = time.time,
    budget_s: float | None = None,
) -> Asked:
    """Ask ``neuron`` to prove ``circuit`` on ``inputs`` and check its answer as a challenge is
    checked (every check and outcome of the module docstring, after the input is drawn).

    The request is the one a challenge sends: a new request id and a deadline of the
    circuit's timeout from now, so a miner cannot tell who asked. ``budget_s`` (a client's
    deadline) shortens only how long the answer is awaited (past it: ``no_response``). With
    ``guard`` None the proof bytes are not checked against (nor recorded in) the replay guard:
    for inputs the validator did not draw, a proof seen before is still a proof of these
    inputs (a client asking the same input twice may get the same bytes). Never raises for
    anything a miner does; a verifier that raises is ``validator_error``.
    """
    assert neuron.axon is not None, "only serving miners are asked"
    requested_at = clock()
    request = ProofRequest(
        circuit_id=circuit.id,
        inputs=tuple(float(v) for v in inputs),
        request_id=uuid.uuid4().hex,
        deadline=requested_at + circuit.timeout_s,
    )

    def failed(
        kind: Outcome, reason: str, query: QueryOutcome[ProofResponse], **measured: Unpack[_Measured]
    ) -> Asked:
        log.info("uid %d %s: %s failed (%s): %s", neuron.uid, neuron.hotkey[:10], circuit.name, kind, reason)
        return Asked(ResponseRecord.failure(neuron, circuit, kind, reason, **measured), request, query, requested_at)

    query = await client.prove(
        neuron.axon, neuron.hotkey, request, grace_s=late_grace(circuit.timeout_s), budget_s=budget_s
    )
    if query.response is None:
        kind = _FROM_QUERY.get(query.status, Outcome.BAD_RESPONSE)
        if _refuses_us(query.http_status, query.error):
            kind = Outcome.FORBIDDEN
        return failed(kind, f"{query.status}: {query.detail}", query, response_s=query.response_s)
    response = query.response  # answers this request and circuit: MinerClient.prove checks the echo
    proof = proof_of(response)
    # Measurements of a response that carried a proof, for every later failure.
    measured: _Measured = {
        "response_s": query.response_s, "proof_bytes": len(proof.proof), "prove_s": response.prove_s,
    }
    if guard is not None and not guard.admit_proof(proof):
        return failed(Outcome.REPLAYED, "replayed proof", query, **measured)

    try:
        verdict = await _verify_retrying_a_crash(verify, circuit.id, proof, request.inputs)
    except Exception as error:
        # The verifier gives a verdict for every proof, so a raise is the
        # validator's own failure (a dead worker twice, a closed pool, a bug):
        # not charged to this miner, and it must not cost the others their
        # round. Logged loudly: if it repeats, the verifier is broken.
        log.warning(
            "uid %d %s: %s: verifier raised on this proof: %s: %s",
            neuron.uid, neuron.hotkey[:10], circuit.name, type(error).__name__, error,
        )
        return failed(
            Outcome.VALIDATOR_ERROR, f"validator error: verifier raised {type(error).__name__}", query, **measured
        )
    if not verdict.accepted:
        return failed(Outcome.REJECTED, f"proof rejected: {verdict.reason}", query, **measured)
    contradiction = _contradiction(response.outputs, verdict.outputs)
    if contradiction is not None:
        return failed(Outcome.BAD_RESPONSE, contradiction, query, **measured)
    if query.response_s > circuit.timeout_s:
        return failed(
            Outcome.LATE, f"late: {query.response_s:.2f}s > {circuit.timeout_s:.2f}s", query, **measured
        )
    log.debug(
        "uid %d %s: %s verified in %.3fs (response %.2fs, %d proof bytes)",
        neuron.uid, neuron.hotkey[:10], circuit.name, verdict.verify_s,
        query.response_s, len(proof.proof),
    )
    record = ResponseRecord(
        uid=neuron.uid, hotkey=neuron.hotkey, circuit_id=circuit.id, circuit_name=circuit.name,
        verified=True, outcome=Outcome.ACCEPTED, reason=None, response_s=query.response_s,
        proof_bytes=len(proof.proof), outputs=verdict.outputs, prove_s=response.prove_s,
        verify_s=verdict.verify_s,
    )
    return Asked(record, request, query, requested_at)


# How long past a circuit's timeout an answer is still awaited, to be reported as ``late``
# rather than as no answer: a quarter of the timeout, at most 0.5 s. It lengthens every
# round that has a silent miner (the round waits for it until timeout + grace), and a round
# should take at most one timeout + its slowest valid answer + 1 s (docs/performance.md; at
# 2 s the 256-uid round took 12.07 s against 11.1). Half a second still tells apart the
# honest slow miner, whose own 408 ``deadline_exceeded`` leaves it at the deadline, from a
# silent one; a valid answer later than that scores zero as ``late`` would.
_LATE_GRACE_FRACTION = 0.25
_LATE_GRACE_MAX_S = 0.5


def late_grace(timeout_s: float) -> float:
    """Seconds past ``timeout_s`` the validator still waits for an answer (then ``late``)."""
    return min(_LATE_GRACE_MAX_S, _LATE_GRACE_FRACTION * timeout_s)


def _contradiction(claimed: Sequence[float], proved: Sequence[float] | None) -> str | None:
    """Why the response's ``outputs`` are not the proof's, or None when they are.

    Both sides decode the same public values with the same circuit
    (``Circuit.decode_outputs``) and floats cross JSON exactly, so an honest
    miner's outputs are equal, not close: any difference is a contradiction."""
    if proved is None:
        return None
    if len(claimed) != len(proved):
        return f"response outputs contradict the proof: {len(claimed)} outputs, the proof has {len(proved)}"
    differ = [i for i, (a, b) in enumerate(zip(claimed, proved)) if a != b]
    if not differ:
        return None
    first = differ[0]
    return (
        f"response outputs contradict the proof at {len(differ)} position(s), first {first}: "
        f"{claimed[first]!r} claimed, {proved[first]!r} proved"
    )


def _refuses_us(http_status: int | None, error: ErrorResponse | None) -> bool:
    """A 403 whose body is an ``ErrorResponse`` with code ``forbidden``: the miner's policy refuses us.

    Both must hold: the protocol pins 403 to that code, so a body and status
    that disagree come from a broken miner, which is charged (``http_error``).
    """
    return http_status == 403 and error is not None and error.code is ErrorCode.FORBIDDEN


async def _verify_retrying_a_crash(
    verify: VerifyFn, circuit_id: str, proof: Proof, inputs: Sequence[float]
) -> Verdict:
    """``verify``, once more if its worker died (the pool is rebuilt by then); other errors raise."""
    try:
        return await verify(circuit_id, proof, inputs)
    except WorkerCrashed as error:
        log.info("verifier worker died during %s (%s); verifying again", circuit_id, error)
        return await verify(circuit_id, proof, inputs)
