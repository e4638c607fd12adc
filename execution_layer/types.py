"""Value types and the exception tree of the execution layer.

These are the contract the neurons build on; nothing here imports ezkl, so
they can cross process boundaries (pickle) and be used by code that never
proves anything (the protocol, the validator's scoring).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Protocol, Sequence

import numpy as np

__all__ = [
    "ExecutionError",
    "CircuitNotFound",
    "CircuitMismatch",
    "StaleManifest",
    "ForeignManifest",
    "CircuitUnavailable",
    "NoCircuitLoads",
    "VersionMismatch",
    "UntrustedSrs",
    "BuildFailed",
    "UnsupportedOp",
    "UnsupportedOpset",
    "CalibrationFailed",
    "SrsMissing",
    "FidelityMissed",
    "CircuitTooSlow",
    "BrokenCircuit",
    "KeyDerivationFailed",
    "ProvingFailed",
    "InvalidInputs",
    "Proof",
    "ProveResult",
    "Verdict",
    "Prover",
]


class ExecutionError(Exception):
    """Root of every error the execution layer raises."""


class CircuitNotFound(ExecutionError):
    """No circuit with this id or name is in the registry."""


class CircuitMismatch(ExecutionError):
    """An artifact on disk does not hash to the value its manifest pins."""

    def __init__(self, path: str, expected: str, actual: str) -> None:
        super().__init__(
            f"{path}: sha256 is {actual}, the manifest pins {expected}; "
            "the file was changed or belongs to another build"
        )
        self.path = path
        self.expected = expected
        self.actual = actual


class StaleManifest(CircuitMismatch):
    """``model.onnx`` changed since the manifest was written: the circuit must be rebuilt."""

    def __init__(self, path: str, expected: str, actual: str, *, folder: str) -> None:
        super().__init__(path, expected, actual)
        self.args = (f"{path}: the ONNX file changed since the build (sha256 {actual}, the manifest pins "
                     f"{expected}): this manifest is stale: rebuild with python -m execution_layer.build {folder}",)


class ForeignManifest(ExecutionError):
    """The folder's manifest names another model (a copied folder brought its manifest along)."""


class NoCircuitLoads(ExecutionError):
    """Every model folder failed to load; ``broken`` holds each one's ``BrokenCircuit``."""

    def __init__(self, message: str, broken: "tuple[BrokenCircuit, ...]" = ()) -> None:
        super().__init__(message)
        self.broken = broken


class CircuitUnavailable(CircuitNotFound):
    """A circuit asked for by name is shipped but its folder failed to load (the reason is in the message)."""


class VersionMismatch(ExecutionError):
    """The circuit was built with another ezkl version than the one installed."""


class UntrustedSrs(ExecutionError):
    """A circuit built on a self-generated SRS (its maker can forge proofs) was asked to run
    on a network that does not trust it."""


class BuildFailed(ExecutionError):
    """A step of ``python -m execution_layer.build`` failed."""


class UnsupportedOp(BuildFailed):
    """The model uses an operator ezkl (or its ONNX reader, tract) cannot turn into a circuit."""

    def __init__(self, message: str, *, op: str, node: str) -> None:
        super().__init__(message)
        self.op = op
        self.node = node


class UnsupportedOpset(BuildFailed):
    """The model's ai.onnx opset lies outside the range onnxruntime and ezkl both run."""


class CalibrationFailed(BuildFailed):
    """ezkl's calibration found no scale and logrows that fit the model over its input range."""


class FidelityMissed(BuildFailed):
    """No candidate scale gives outputs within the error target against onnxruntime."""


class CircuitTooSlow(BuildFailed):
    """The circuit proves too slowly for the timeout rule's ceiling (``execution_layer.timeouts``)."""


class SrsMissing(BuildFailed):
    """The SRS the build was pointed at does not exist (and generating one was not asked for)."""


class KeyDerivationFailed(ExecutionError):
    """Deriving the proving key failed, or the derived vk differs from the pinned one."""


class ProvingFailed(ExecutionError):
    """Witness generation or proving failed for these inputs."""


class InvalidInputs(ProvingFailed):
    """The inputs do not fit the circuit: wrong number of values, not finite, or outside
    the input range of ``metadata.json``. The caller's mistake, found before ezkl runs."""


@dataclass(frozen=True)
class BrokenCircuit:
    """A model folder the registry could not load, and why; the other circuits load without it.

    ``error`` is the class of the error loading raised (a leaf of ``ExecutionError``),
    ``reason`` its one-line message. A value (no exception object), so a registry holding
    it still pickles and compares.
    """

    folder: Path
    error: type[ExecutionError]
    reason: str

    @property
    def name(self) -> str:
        """The folder's name: what an operator types in ``--miner.circuits`` / ``--validator.circuits``."""
        return self.folder.name

    @property
    def warning(self) -> str:
        """One line for the log: which folder, why, and what to do (the reason's own fix when it has one)."""
        line = f"circuit {self.name} not loaded ({self.error.__name__}): {self.reason}; the other circuits run without it"
        if "python -m execution_layer.build" in self.reason:
            return line
        return (f"{line} (restore its shipped files with git checkout {self.folder}, rebuild it with "
                f"python -m execution_layer.build {self.folder}, or remove the folder)")


@dataclass(frozen=True)
class Proof:
    """A proof as it travels: the public instances and the raw proof bytes.

    ``instances`` are field elements as ezkl writes them (64 lowercase hex
    chars, little-endian, no 0x), laid out as ezkl does: one instance column
    (so one inner tuple) holding the flattened inputs first, then the outputs,
    in the order of the circuit's ``model_instance_shapes``. Nothing else of ezkl's proof JSON is
    carried: only ``instances`` and ``proof`` are checked by ezkl's verifier.
    """

    circuit_id: str
    instances: tuple[tuple[str, ...], ...]
    proof: bytes


@dataclass(frozen=True)
class ProveResult:
    proof: Proof
    outputs: tuple[float, ...]  # decoded from the proof's output instances
    witness_s: float
    prove_s: float


@dataclass(frozen=True)
class Verdict:
    """The outcome of checking a proof. ``reason`` is set exactly when rejected."""

    accepted: bool
    reason: str | None
    outputs: tuple[float, ...] | None
    verify_s: float


class Prover(Protocol):
    """What a miner needs from a prover. ``EzklProver`` is the real one."""

    def prove(self, circuit_id: str, inputs: Sequence[float] | np.ndarray) -> ProveResult: ...

    def ensure_keys(self, circuit_id: str, progress: Callable[[str], None] | None = None) -> Path:
        """Make the circuit's proving key available (deriving it if needed); return its path."""
        ...
