"""Verification of a miner's proof against the validator's own inputs.

``verify`` never raises: every failure is a rejected ``Verdict`` with a reason.
"""

from __future__ import annotations

import json
import tempfile
import time
from typing import Sequence

import ezkl
import numpy as np
from numpy.typing import ArrayLike

from execution_layer import _ezkl
from execution_layer.circuit import Circuit
from execution_layer.proofjson import proof_to_ezkl
from execution_layer.types import ExecutionError, Proof, Verdict

__all__ = ["verify", "fidelity"]

class _Rejected(ExecutionError):
    pass


def _check(circuit: Circuit, proof: Proof, expected_inputs: ArrayLike) -> tuple[float, ...]:
    if proof.circuit_id != circuit.id:
        raise _Rejected(f"proof is for circuit {proof.circuit_id!r}, expected {circuit.id!r} ({circuit.name})")
    flat = [v for column in proof.instances for v in column]
    if len(proof.instances) != 1 or len(flat) != circuit.num_instances:
        raise _Rejected(f"proof has {[len(c) for c in proof.instances]} instances, "
                        f"the circuit expects [{circuit.num_instances}] "
                        f"(shapes {list(map(list, circuit.model_instance_shapes))})")
    if not all(_ezkl.is_felt(v) for v in flat):
        raise _Rejected("instances must be canonical field elements (64 lowercase hex chars, little-endian, < p)")
    if not isinstance(proof.proof, bytes) or len(proof.proof) != circuit.proof_bytes:
        size = len(proof.proof) if isinstance(proof.proof, bytes) else type(proof.proof).__name__
        raise _Rejected(f"proof is {size} bytes, proofs of this circuit are {circuit.proof_bytes} "
                        "(ezkl ignores trailing bytes, so the length is pinned)")
    try:
        expected = [v for column in circuit.encode_inputs(expected_inputs) for v in column]
    except ValueError as e:
        raise _Rejected(f"expected inputs unusable: {e}") from None
    if len(expected) != circuit.num_inputs:
        raise _Rejected(f"the expected inputs encode to {len(expected)} values but {circuit.name} has "
                        f"{circuit.num_inputs} input instances: the inputs cannot be bound to the proof")
    mismatched = [i for i, (a, b) in enumerate(zip(flat[:circuit.num_inputs], expected, strict=True)) if a != b]
    if mismatched:
        raise _Rejected(f"input instances differ from the inputs sent at {len(mismatched)} "
                        f"position(s), first {mismatched[0]}: the proof is for other inputs")
    with tempfile.TemporaryDirectory(prefix="poi-verify-") as tmp:
        path = f"{tmp}/proof.json"
        with open(path, "w") as f:
            json.dump(proof_to_ezkl(proof), f)
        _ezkl.call(_Rejected, "SNARK verification failed", ezkl.verify, path, str(circuit.settings_path),
                   str(circuit.vk_path), srs_path=str(circuit.srs_path))
    return circuit.decode_outputs(flat[circuit.num_inputs:])


def verify(circuit: Circuit, proof: Proof, expected_inputs: ArrayLike) -> Verdict:
    """Check ``proof`` for ``circuit`` on the validator's ``expected_inputs``.

    Checks, in order: the proof's circuit id equals ``circuit.id``; the instance
    count matches ``circuit.model_instance_shapes`` and each instance is a canonical
    field element string; the proof length equals the circuit's (pinned at build:
    ezkl would accept trailing bytes); ``circuit.encode_inputs(expected_inputs)`` has exactly
    ``circuit.num_inputs`` values and the input instances equal them one for one; ezkl.verify accepts the proof bytes and instances. The first failing
    check is the rejection reason. Accepted verdicts carry the outputs decoded
    from the proof at the output scale. Never raises.

    ``expected_inputs`` must be exactly the values the validator sent (they are
    compared as float32 quantised at the input scale): if the wire format
    rounds them, pass the rounded values.
    """
    started = time.perf_counter()
    try:
        outputs = _check(circuit, proof, expected_inputs)
    except ExecutionError as e:
        return Verdict(accepted=False, reason=str(e), outputs=None, verify_s=time.perf_counter() - started)
    except Exception as e:  # the boundary: anything unexpected is a rejection, not a crash
        return Verdict(accepted=False, reason=f"verification error: {type(e).__name__}: {e}", outputs=None,
                       verify_s=time.perf_counter() - started)
    return Verdict(accepted=True, reason=None, outputs=outputs, verify_s=time.perf_counter() - started)


def fidelity(circuit: Circuit, inputs: ArrayLike, outputs: Sequence[float]) -> float:
    """The largest |proof output - onnxruntime output| over the model's outputs for ``inputs``."""
    reference = circuit.run_onnx(inputs)
    got = np.asarray(outputs, dtype=np.float64).reshape(-1)
    if got.size != reference.size:
        raise ValueError(f"{circuit.name} has {reference.size} outputs, got {got.size}")
    return float(np.max(np.abs(got - reference.astype(np.float64))))
