"""One challenge: fresh inputs to one miner, its answer checked and measured.

``challenge_miner`` is the validator's unit of work. It never raises for
anything a miner does: every way a response can go wrong becomes a
``ResponseRecord`` with ``verified=False`` and a reason, which scores zero.
A verifier that raises on a proof (e.g. its worker process died) rejects
that proof too.
Checks, in order: transport (timeout, HTTP error, bad signature, malformed
body), request echo (request id, circuit id), replay guard (proof bytes seen
before), then the proof itself against the validator's own inputs (circuit,
input binding, SNARK) in a worker process, then the deadline.
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass
from typing import Awaitable, Callable, Sequence

import numpy as np

from execution_layer.types import Proof, Verdict
from neurons.chain import NeuronInfo
from neurons.miner_client import MinerClient
from neurons.replay_guard import ReplayGuard
from protocol import ProofRequest

__all__ = ["ResponseRecord", "challenge_miner", "VerifyFn"]

log = logging.getLogger(__name__)

VerifyFn = Callable[[str, Proof, Sequence[float]], Awaitable[Verdict]]


@dataclass(frozen=True)
class ResponseRecord:
    """What one challenge of one miner came to."""

    uid: int
    hotkey: str
    circuit_id: str
    circuit_name: str
    verified: bool
    reason: str | None  # why it failed; None when verified
    response_s: float  # wall time seen by the validator, request sent to body read
    proof_bytes: int  # raw proof bytes the miner sent (0 when none)
    outputs: tuple[float, ...] | None
    prove_s: float | None  # the miner's own report, for information only
    verify_s: float


async def challenge_miner(
    *,
    neuron: NeuronInfo,
    circuit,  # execution_layer.Circuit
    client: MinerClient,
    verify: VerifyFn,
    guard: ReplayGuard,
    rng: np.random.Generator,
    clock: Callable[[], float] = time.time,
) -> ResponseRecord:
    assert neuron.axon is not None, "only serving miners are challenged"
    # Samplers add noise to real samples, so a repeat is astronomically rare;
    # the guard makes "never the same input twice" a guarantee, not a hope.
    inputs = guard.fresh_input(circuit.id, lambda: circuit.sample_inputs(rng))
    request = ProofRequest(
        circuit_id=circuit.id,
        inputs=[float(v) for v in inputs.reshape(-1)],
        request_id=uuid.uuid4().hex,
        deadline=clock() + circuit.timeout_s,
    )

    def failed(reason: str, response_s: float = 0.0, proof_bytes: int = 0, prove_s=None) -> ResponseRecord:
        log.info("uid %d %s: %s failed: %s", neuron.uid, neuron.hotkey[:10], circuit.name, reason)
        return ResponseRecord(
            neuron.uid, neuron.hotkey, circuit.id, circuit.name, False, reason,
            response_s, proof_bytes, None, prove_s, 0.0,
        )

    outcome = await client.prove(neuron.axon, neuron.hotkey, request)
    if outcome.response is None:
        return failed(f"{outcome.status}: {outcome.detail}", outcome.response_s)
    response = outcome.response
    if response.request_id != request.request_id or response.circuit_id != circuit.id:
        return failed("response does not answer this request", outcome.response_s)
    proof = response.to_proof()
    prove_s = response.prove_s
    if not guard.admit_proof(proof):
        return failed("replayed proof", outcome.response_s, len(proof.proof), prove_s)

    try:
        verdict = await verify(circuit.id, proof, request.inputs)
    except Exception as error:
        # A worker that dies on this proof (WorkerCrashed) or any verifier
        # failure rejects this response; it must not cost the other miners
        # their round. Logged loudly: if it repeats, the verifier is broken.
        log.warning(
            "uid %d %s: %s: verifier raised on this proof: %s: %s",
            neuron.uid, neuron.hotkey[:10], circuit.name, type(error).__name__, error,
        )
        return failed(
            f"proof rejected: verification error ({type(error).__name__})",
            outcome.response_s, len(proof.proof), prove_s,
        )
    if not verdict.accepted:
        return failed(f"proof rejected: {verdict.reason}", outcome.response_s, len(proof.proof), prove_s)
    if outcome.response_s > circuit.timeout_s:
        return failed(
            f"late: {outcome.response_s:.2f}s > {circuit.timeout_s:.2f}s",
            outcome.response_s, len(proof.proof), prove_s,
        )
    log.debug(
        "uid %d %s: %s verified in %.3fs (response %.2fs, %d proof bytes)",
        neuron.uid, neuron.hotkey[:10], circuit.name, verdict.verify_s,
        outcome.response_s, len(proof.proof),
    )
    return ResponseRecord(
        neuron.uid, neuron.hotkey, circuit.id, circuit.name, True, None, outcome.response_s,
        len(proof.proof), verdict.outputs, prove_s, verdict.verify_s,
    )

