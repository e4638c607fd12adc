"""Precomputed proofs for the validator benchmark, cached on disk by circuit id.

The validator benchmark must measure the validator alone, so every proof its stand-in
miners send is made before the round. The inputs are the validator's own: draw ``k`` of a
circuit is the ``k``-th draw of the real ``InputSampler`` with ``numpy.random.default_rng(seed)``,
the generator :class:`SeededSample` gives the validator through its ``sample`` seam. So a
proof made here is a proof of exactly what the validator will send, in whatever order it
asks its miners.

Cache layout: ``<cache>/<circuit id>/<ezkl version>-seed<seed>/<k>.json``, each file the
draw's inputs and its proof (raw bytes base64, instances, outputs, prove time). A file
whose inputs are not the draw's (another numpy, another sample pool) is made again.
"""

from __future__ import annotations

import base64
import json
import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np

from execution_layer import Circuit, EzklProver, Proof, ezkl_version
from neurons.validating.challenge import ChallengeCircuit, InputSampler

__all__ = ["CachedProof", "SeededSample", "draws", "ensure_proofs", "input_key", "load_proofs"]


@dataclass(frozen=True)
class CachedProof:
    """One precomputed answer: the inputs (flattened, as a request carries them) and their proof."""

    inputs: tuple[float, ...]
    proof: Proof
    outputs: tuple[float, ...]
    prove_s: float

    def to_json(self) -> dict[str, Any]:
        return {"inputs": list(self.inputs), "circuit_id": self.proof.circuit_id,
                "proof": base64.b64encode(self.proof.proof).decode(),
                "instances": [list(g) for g in self.proof.instances],
                "outputs": list(self.outputs), "prove_s": self.prove_s}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CachedProof:
        proof = Proof(circuit_id=data["circuit_id"], proof=base64.b64decode(data["proof"]),
                      instances=tuple(tuple(g) for g in data["instances"]))
        return cls(tuple(data["inputs"]), proof, tuple(data["outputs"]), float(data["prove_s"]))


def input_key(inputs: Sequence[float]) -> bytes:
    """What a stand-in looks a request's inputs up by: their float32 bytes (JSON round trips
    of a float32 value give the same float32 back)."""
    return np.asarray(inputs, dtype=np.float32).reshape(-1).tobytes()


class SeededSample:
    """The validator's ``sample`` seam for the benchmark: the real ``InputSampler``, drawing
    each circuit's inputs from its own ``default_rng(seed)`` instead of the ``rng`` it is
    handed, so the ``k``-th input of a circuit is known before the round whatever the order
    of the challenges (the validator's own ``rng`` still shuffles and picks circuits)."""

    def __init__(self, seed: int) -> None:
        self._seed = seed
        self._inner = InputSampler()
        self._rngs: dict[str, np.random.Generator] = {}

    def __call__(self, circuit: ChallengeCircuit, rng: np.random.Generator) -> np.ndarray[Any, Any]:
        own = self._rngs.get(circuit.id)
        if own is None:
            own = self._rngs[circuit.id] = np.random.default_rng(self._seed)
        return self._inner(circuit, own)


def draws(circuit: Circuit, seed: int, count: int) -> list[tuple[float, ...]]:
    """The first ``count`` inputs :class:`SeededSample` gives the validator for ``circuit``."""
    sample = SeededSample(seed)
    rng = np.random.default_rng()  # unused by SeededSample: it draws from its own generator
    return [tuple(float(v) for v in np.asarray(sample(circuit, rng)).reshape(-1)) for _ in range(count)]


def _folder(cache: Path, circuit: Circuit, seed: int) -> Path:
    return cache / circuit.id / f"ezkl{ezkl_version()}-seed{seed}"


def _cached(folder: Path, k: int, inputs: Sequence[float]) -> CachedProof | None:
    """Draw ``k``'s cached proof, or None when missing, unreadable or of other inputs."""
    try:
        cached = CachedProof.from_json(json.loads((folder / f"{k}.json").read_text()))
    except (OSError, ValueError, KeyError):
        return None
    return cached if input_key(cached.inputs) == input_key(inputs) else None


def load_proofs(cache: Path, circuit: Circuit, seed: int, count: int) -> list[CachedProof] | None:
    """The cached proofs of the first ``count`` draws, or None while any is missing."""
    folder = _folder(cache, circuit, seed)
    found = [_cached(folder, k, inputs) for k, inputs in enumerate(draws(circuit, seed, count))]
    return None if any(p is None for p in found) else [p for p in found if p is not None]


# --- proving, in worker processes (one ezkl thread each: more proofs per second in all) ---

_prover: EzklProver | None = None


def _start_worker(key_cache: Path) -> None:
    global _prover
    os.environ["RAYON_NUM_THREADS"] = "1"  # before ezkl starts its thread pool in this process
    from execution_layer import CircuitRegistry

    _prover = EzklProver(CircuitRegistry.load(), key_cache=key_cache)


def _prove(circuit_id: str, inputs: tuple[float, ...]) -> dict[str, Any]:
    assert _prover is not None
    started = time.perf_counter()
    result = _prover.prove(circuit_id, np.asarray(inputs, dtype=np.float32))
    return CachedProof(inputs, result.proof, result.outputs, time.perf_counter() - started).to_json()


def ensure_proofs(
    cache: Path, circuit: Circuit, seed: int, count: int, *, key_cache: Path, workers: int | None = None,
    progress: Callable[[str], None] = lambda line: None,
) -> list[CachedProof]:
    """The proofs of the first ``count`` draws of ``circuit``, made (in ``workers`` processes,
    default one per core) for those not in ``cache`` yet; the proving key is derived into
    ``key_cache`` first when missing."""
    folder = _folder(cache, circuit, seed)
    folder.mkdir(parents=True, exist_ok=True)
    wanted = draws(circuit, seed, count)
    missing = [k for k, inputs in enumerate(wanted) if _cached(folder, k, inputs) is None]
    if missing:
        EzklProver([circuit], key_cache=key_cache).ensure_keys(circuit.id)
        progress(f"proving {len(missing)} of {count} {circuit.name} inputs (cache {folder})")
        started = time.perf_counter()
        with ProcessPoolExecutor(workers or os.cpu_count() or 1, mp_context=get_context("spawn"),
                                 initializer=_start_worker, initargs=(key_cache,)) as pool:
            for k, made in zip(missing, pool.map(_prove, [circuit.id] * len(missing), [wanted[k] for k in missing])):
                tmp = folder / f"{k}.json.tmp"
                tmp.write_text(json.dumps(made))
                tmp.replace(folder / f"{k}.json")
        progress(f"proved {len(missing)} in {time.perf_counter() - started:.0f} s")
    proofs = load_proofs(cache, circuit, seed, count)
    assert proofs is not None, "every proof was just written"
    return proofs
