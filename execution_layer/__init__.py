"""The execution layer: EZKL proofs of ONNX models, pinned by hash.

The only package that imports ezkl. Public API:

- ``CircuitRegistry.load(models_dir, srs_path)`` / ``Circuit``: verified circuits (a folder
  that fails is kept in ``registry.broken`` as a ``BrokenCircuit``; the rest load);
- ``EzklProver`` (the real ``Prover``) and ``make_prover`` (for worker processes);
- ``verify(circuit, proof, expected_inputs) -> Verdict`` and ``fidelity``;
- ``proof_to_ezkl`` / ``proof_from_ezkl``: Proof <-> ezkl proof JSON;
- ``ensure_keys`` / ``default_key_cache``: the proving-key cache;
- the value types and the ``ExecutionError`` tree from ``execution_layer.types``.

- ``quiet_native_logs()``: for entry scripts; ezkl logs hundreds of INFO lines per
  proof through stdlib logging (loggers ``ezkl.*``, ``halo2_proofs.*``).

CLIs: ``python -m execution_layer.new`` (a model folder from an ONNX file), ``.build``, ``.keys``, ``.demo``.

Processes that prove must be started with the ``spawn`` method: forking a
process whose ezkl threads have already run can deadlock.
"""

from execution_layer._ezkl import quiet_native_logs
from execution_layer._keycache import DEFAULT_KEY_CACHE, default_key_cache, ensure_keys
from execution_layer.circuit import Circuit, ezkl_version, load_circuit
from execution_layer.proofjson import proof_from_ezkl, proof_to_ezkl
from execution_layer.prover import EzklProver, make_prover
from execution_layer.registry import CircuitRegistry, default_models_dir
from execution_layer.types import (
    BrokenCircuit,
    BuildFailed,
    CalibrationFailed,
    CircuitMismatch,
    CircuitTooSlow,
    CircuitNotFound,
    CircuitUnavailable,
    FidelityMissed,
    ForeignManifest,
    NoCircuitLoads,
    SrsMissing,
    StaleManifest,
    UnsupportedOp,
    UnsupportedOpset,
    ExecutionError,
    KeyDerivationFailed,
    Proof,
    Prover,
    ProveResult,
    ProvingFailed,
    InvalidInputs,
    UntrustedSrs,
    Verdict,
    VersionMismatch,
)
from execution_layer.verifier import fidelity, verify

__all__ = [
    "Circuit",
    "CircuitRegistry",
    "EzklProver",
    "make_prover",
    "verify",
    "fidelity",
    "proof_from_ezkl",
    "proof_to_ezkl",
    "ensure_keys",
    "default_key_cache",
    "DEFAULT_KEY_CACHE",
    "default_models_dir",
    "load_circuit",
    "ezkl_version",
    "quiet_native_logs",
    "ExecutionError",
    "CircuitNotFound",
    "CircuitMismatch",
    "StaleManifest",
    "ForeignManifest",
    "CircuitUnavailable",
    "NoCircuitLoads",
    "BrokenCircuit",
    "BuildFailed",
    "UnsupportedOp",
    "UnsupportedOpset",
    "CalibrationFailed",
    "FidelityMissed",
    "CircuitTooSlow",
    "SrsMissing",
    "VersionMismatch",
    "UntrustedSrs",
    "KeyDerivationFailed",
    "ProvingFailed",
    "InvalidInputs",
    "Proof",
    "ProveResult",
    "Verdict",
    "Prover",
]
