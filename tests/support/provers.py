"""Fake provers and verifiers: deterministic, well-formed proofs that are not cryptographic.

``FakeProver`` runs inside spawned prover-pool workers, which unpickle it by
importing this module: keep its imports light (no bittensor, no ezkl).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from execution_layer.types import CircuitMismatch, Proof, ProveResult, ProvingFailed, Verdict

if TYPE_CHECKING:
    import numpy as np

    from models.metadata import InputSpec

__all__ = [
    "CIRCUIT_A",
    "CIRCUIT_B",
    "fake_result",
    "FakeProver",
    "make_fake_prover",
    "broken_factory",
    "exit_worker",
    "worker_identity",
    "hold",
    "SlowProver",
    "TimedProver",
    "AsyncFakeProver",
    "FakeCircuit",
    "fake_sample",
    "FakeVerifier",
]

CIRCUIT_A = "a" * 64
CIRCUIT_B = "b" * 64


def fake_result(circuit_id: str, inputs: Sequence[float]) -> ProveResult:
    """A deterministic, well-formed (but not cryptographically valid) proof of ``inputs``."""
    outputs = (float(sum(inputs)),)
    digest = hashlib.sha256(repr((circuit_id, tuple(inputs))).encode()).digest()
    felts = tuple(hashlib.sha256(bytes([i]) + digest).hexdigest() for i in range(len(inputs) + 1))
    return ProveResult(
        proof=Proof(circuit_id=circuit_id, instances=(felts,), proof=digest * 4),
        outputs=outputs,
        witness_s=0.01,
        prove_s=0.02,
    )


class FakeProver:
    """A picklable prover for the process pool: proves ``CIRCUIT_A``, fails ``CIRCUIT_B``.

    The extra methods misbehave on purpose (sleep, crash the worker, raise an
    error that does not survive pickling).
    """

    def __init__(self, label: str = "fake") -> None:
        self.label = label
        self.pid = os.getpid()
        self.calls = 0

    def prove(self, circuit_id: str, inputs: Sequence[float]) -> ProveResult:
        self.calls += 1
        if circuit_id == CIRCUIT_B:
            raise ProvingFailed(f"{self.label} cannot prove circuit B")
        return fake_result(circuit_id, inputs)

    def verify(self, proof: Proof) -> bool:
        return proof.circuit_id == CIRCUIT_A

    def whoami(self) -> tuple[str, int, int]:
        """(label, pid where built, calls so far): shows the object persists per process."""
        self.calls += 1
        return self.label, self.pid, self.calls

    def sleep(self, seconds: float) -> float:
        time.sleep(seconds)
        return seconds

    def crash(self) -> None:
        os._exit(3)

    def unpicklable_error(self) -> None:
        raise CircuitMismatch("model.onnx", "0" * 64, "1" * 64)


def make_fake_prover() -> FakeProver:
    """Module-level (picklable) factory."""
    return FakeProver("made")


def broken_factory() -> FakeProver:
    """A factory that fails in the worker, as a prover with missing artifacts would."""
    raise ProvingFailed("circuit artifacts missing")


def exit_worker(_worker_object: object) -> None:
    """A module-level function for ``WorkerPool.run`` that kills the worker process."""
    os._exit(3)


def worker_identity(prover: FakeProver) -> tuple[str, int]:
    """A module-level function for ``WorkerPool.run``: (label, pid) of the worker's prover."""
    return prover.label, os.getpid()


def hold(_worker_object: object, marker: str, seconds: float) -> int:
    """A module-level function for ``WorkerPool.run``: writes the worker's pid to the file
    ``marker`` (so a test knows which process is busy), sleeps ``seconds``, returns the pid."""
    Path(marker).write_text(str(os.getpid()))
    time.sleep(seconds)
    return os.getpid()


class SlowProver(FakeProver):
    """A ``FakeProver`` for worker processes whose ``prove`` takes ``inputs[0]`` seconds.

    Before sleeping it writes its pid to ``marker`` when given, so a test can see the
    proof has started and which process runs it.
    """

    def __init__(self, label: str = "slow", marker: str | None = None) -> None:
        super().__init__(label)
        self.marker = marker

    def prove(self, circuit_id: str, inputs: Sequence[float]) -> ProveResult:
        if self.marker is not None:
            Path(self.marker).write_text(str(os.getpid()))
        time.sleep(max(0.0, float(inputs[0])))
        return super().prove(circuit_id, inputs)


@dataclass(frozen=True)
class TimedProver:
    """A prover for worker processes that proves every circuit, taking ``seconds[circuit_id]``
    (0 for any other): a heavy and a light circuit on one miner.

    With ``marker_dir`` it first writes its pid to the file ``marker_dir/<circuit_id[:8]>``,
    so a test can see that proof is under way in a worker.
    """

    seconds: dict[str, float]
    marker_dir: str | None = None

    def prove(self, circuit_id: str, inputs: Sequence[float]) -> ProveResult:
        if self.marker_dir is not None:
            Path(self.marker_dir, circuit_id[:8]).write_text(str(os.getpid()))
        time.sleep(self.seconds.get(circuit_id, 0.0))
        return fake_result(circuit_id, inputs)


@dataclass
class AsyncFakeProver:
    """The miner app's ``prove`` callable. Blocks on ``gate`` when set; raises ``error`` if set."""

    gate: asyncio.Event | None = None
    error: BaseException | None = None
    delay: float = 0.0
    calls: list[tuple[str, tuple[float, ...]]] = field(default_factory=list)
    started: asyncio.Event = field(default_factory=asyncio.Event)
    result_override: ProveResult | None = None

    async def __call__(self, circuit_id: str, inputs: tuple[float, ...]) -> ProveResult:
        self.calls.append((circuit_id, tuple(inputs)))
        self.started.set()
        if self.gate is not None:
            await self.gate.wait()
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.error is not None:
            raise self.error
        if self.result_override is not None:
            return self.result_override
        return fake_result(circuit_id, inputs)


@dataclass(frozen=True)
class FakeCircuit:
    """What the validator needs of an ``execution_layer.Circuit``: id, name, timeout; ``size`` for
    ``fake_sample``; ``vk_sha256`` for the circuit pin (``neurons.shared.pins``)."""

    id: str
    name: str
    timeout_s: float = 2.0
    size: int = 4
    vk_sha256: str = "c" * 64

    @property
    def spec(self) -> InputSpec:
        from models.metadata import InputSpec

        return InputSpec(shape=(1, self.size), low=-1.0, high=1.0, noise_std=0.1)

    @property
    def samples_path(self) -> Path:
        return Path("/nonexistent/samples.npy")  # fake_sample draws; nothing reads a pool

    def check_inputs(self, inputs: Sequence[float]) -> tuple[float, ...]:
        """As ``Circuit.check_inputs``: ``size`` finite values in [-1, 1], else ValueError naming why."""
        values = tuple(float(v) for v in inputs)
        if len(values) != self.size:
            raise ValueError(f"{self.name} takes {self.size} values, got {len(values)}")
        if not all(-1.0 <= v <= 1.0 for v in values):  # NaN fails both comparisons
            raise ValueError(f"{self.name}: inputs must lie in [-1.0, 1.0]")
        return values


def fake_sample(circuit: FakeCircuit, rng: np.random.Generator) -> np.ndarray:
    """The validator's ``sample`` for a ``FakeCircuit``: ``size`` uniform values in [-1, 1) drawn with ``rng``."""
    import numpy as np

    return rng.uniform(-1.0, 1.0, size=(1, circuit.size)).astype(np.float32)


@dataclass
class FakeVerifier:
    """The validator's ``verify``: accepts exactly ``fake_result(circuit_id, inputs)``'s proof.

    So a proof of other inputs, or any other bytes, is rejected, like the real
    input binding and SNARK check would. ``error`` makes it raise instead;
    ``calls`` records (circuit id, proof bytes).
    """

    error: BaseException | None = None
    calls: list[tuple[str, bytes]] = field(default_factory=list)

    async def __call__(self, circuit_id: str, proof: Proof, inputs: Sequence[float]) -> Verdict:
        self.calls.append((circuit_id, proof.proof))
        if self.error is not None:
            raise self.error
        expected = fake_result(circuit_id, tuple(float(v) for v in inputs))
        if proof != expected.proof:
            return Verdict(False, "input instances differ from the inputs sent", None, 0.001)
        return Verdict(True, None, expected.outputs, 0.001)
