"""Verification in worker processes, so the validator's event loop never blocks.

:class:`VerifierPool` is the validator's verifier: ``await pool.verify(circuit_id,
proof, inputs)`` gives a ``Verdict``, checked in a worker process. The worker
side is :class:`RegistryVerifier`: a picklable recipe (models folder, SRS path)
that loads the circuit registry once per worker process and checks proofs
against it. Worker deaths and a closed pool raise as in
``neurons.shared.prover_pool`` (``WorkerCrashed``, ``PoolClosed``).
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from execution_layer.types import Proof, Verdict
from neurons.shared.prover_pool import WorkerPool

__all__ = ["RegistryVerifier", "make_registry_verifier", "VerifierPool"]

log = logging.getLogger(__name__)


@dataclass
class RegistryVerifier:
    """Checks proofs against the circuits of one registry (runs inside a worker)."""

    models_dir: Path | None = None
    srs_dir: Path | None = None

    def __post_init__(self) -> None:
        from execution_layer import CircuitRegistry

        self._registry = CircuitRegistry.load(self.models_dir, srs_dir=self.srs_dir)

    def verify(self, circuit_id: str, proof: Proof, expected_inputs: Sequence[float]) -> Verdict:
        """Never raises for a bad proof: every failure is a rejected ``Verdict``.

        That includes a Rust panic inside ezkl: pyo3 raises it as ``PanicException``,
        a ``BaseException`` that ``execution_layer.verify``'s ``except Exception``
        does not catch (and that cannot be pickled back to the validator).
        """
        from execution_layer import CircuitNotFound, verify

        try:
            circuit = self._registry.get(circuit_id)
        except CircuitNotFound:
            return Verdict(False, f"unknown circuit {circuit_id}", None, 0.0)
        try:
            return verify(circuit, proof, np.asarray(expected_inputs, dtype=np.float32))
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as error:
            reason = f"verifier panicked: {type(error).__name__}: {error}"
            return Verdict(False, reason[:300], None, 0.0)


def make_registry_verifier(models_dir: Path | None = None, srs_dir: Path | None = None) -> RegistryVerifier:
    """Top-level factory (picklable) for the worker processes."""
    return RegistryVerifier(models_dir=models_dir, srs_dir=srs_dir)


class VerifierPool(WorkerPool[RegistryVerifier]):
    """``RegistryVerifier`` in ``workers`` worker processes, over ``models_dir`` and ``srs_dir``
    (the defaults: the shipped models and their SRS)."""

    def __init__(
        self, models_dir: Path | None = None, srs_dir: Path | None = None, *, workers: int = 1
    ) -> None:
        super().__init__(
            functools.partial(make_registry_verifier, models_dir, srs_dir), workers, label="verifier"
        )

    async def verify(self, circuit_id: str, proof: Proof, inputs: Sequence[float]) -> Verdict:
        """``RegistryVerifier.verify`` in a worker: a ``Verdict`` for every proof, good or bad.

        Raises only for the pool's own failures: ``WorkerCrashed`` (the worker
        died; the pool is rebuilt) and ``PoolClosed``.
        """
        return await self.run(RegistryVerifier.verify, circuit_id, proof, tuple(float(v) for v in inputs))
