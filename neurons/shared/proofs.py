"""Between the wire and the execution layer: a prover's result as a ``ProofResponse``,
and a ``ProofResponse`` as the ``Proof`` the verifier takes.

``protocol`` imports nothing of ours, so the two sides meet here: the miner
wraps its result with :func:`proof_response`, the validator unwraps what it
received with :func:`proof_of`.
"""

from __future__ import annotations

from execution_layer import Proof, ProveResult
from protocol import ProofResponse

__all__ = ["proof_of", "proof_response"]


def proof_of(response: ProofResponse) -> Proof:
    """The response's proof as the execution layer's verifier takes it."""
    return Proof(circuit_id=response.circuit_id, instances=response.instances, proof=response.proof)


def proof_response(
    result: ProveResult, *, request_id: str, queue_s: float, prove_s: float | None = None
) -> ProofResponse:
    """Wrap a prover's result; ``prove_s`` defaults to its witness plus proving time.

    Raises ``pydantic.ValidationError`` when the proof breaks a protocol limit.
    """
    return ProofResponse(
        request_id=request_id,
        circuit_id=result.proof.circuit_id,
        outputs=result.outputs,
        proof=result.proof.proof,
        instances=result.proof.instances,
        queue_s=queue_s,
        prove_s=result.witness_s + result.prove_s if prove_s is None else prove_s,
    )
