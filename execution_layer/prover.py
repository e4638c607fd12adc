"""``EzklProver``: the real ``Prover``: witness and proof with ezkl, per call in a temp dir.

Picklable and cheap to construct, so a miner can build one inside each worker
of a ProcessPoolExecutor (see ``make_prover``). It holds circuits (paths) and
the key-cache root, nothing native.
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path
from typing import Callable, Iterable, Sequence

import ezkl
import numpy as np

from execution_layer import _ezkl
from execution_layer import _keycache as keys
from execution_layer.circuit import Circuit
from execution_layer.proofjson import proof_from_ezkl
from execution_layer.registry import CircuitRegistry
from execution_layer.types import CircuitNotFound, InvalidInputs, ProveResult, ProvingFailed

__all__ = ["EzklProver", "make_prover"]


class EzklProver:
    """Proves inferences of the given circuits with ezkl.

    ``key_cache`` is the proving-key cache root (see ``execution_layer.keys``);
    keys missing from it are derived on first use (or up front with
    ``ensure_keys``).
    """

    def __init__(self, circuits: CircuitRegistry | Iterable[Circuit], key_cache: Path | None = None) -> None:
        self._circuits = {c.id: c for c in circuits}
        self.key_cache = keys.default_key_cache(key_cache)

    def circuit(self, circuit_id: str) -> Circuit:
        try:
            return self._circuits[circuit_id]
        except KeyError:
            raise CircuitNotFound(f"this prover has no circuit with id {circuit_id!r}") from None

    def ensure_keys(self, circuit_id: str, progress: Callable[[str], None] | None = None) -> Path:
        """Path of the circuit's proving key, derived into the cache first if missing."""
        return keys.ensure_keys(self.circuit(circuit_id), self.key_cache, progress=progress)

    def prove(self, circuit_id: str, inputs: Sequence[float] | np.ndarray) -> ProveResult:
        """Prove the circuit's inference on ``inputs`` (any shape with the input's size).

        Raises CircuitNotFound for an unknown id, InvalidInputs (a ProvingFailed) for inputs
        of the wrong size, not finite or outside the input range, ProvingFailed when ezkl fails
        (with ezkl's message), KeyDerivationFailed if the key must be derived and that fails.
        """
        circuit = self.circuit(circuit_id)
        try:
            values = circuit.check_inputs(inputs)
        except ValueError as e:
            raise InvalidInputs(str(e)) from None
        pk = self.ensure_keys(circuit_id)
        with tempfile.TemporaryDirectory(prefix="poi-prove-") as tmp_name:
            tmp = Path(tmp_name)
            data, witness, proof_file = tmp / "input.json", tmp / "witness.json", tmp / "proof.json"
            _ezkl.write_input(data, values)
            t0 = time.perf_counter()
            _ezkl.call(ProvingFailed, f"gen_witness ({circuit.name})", ezkl.gen_witness, str(data),
                       str(circuit.compiled_path), str(witness), vk_path=str(circuit.vk_path),
                       srs_path=str(circuit.srs_path))
            t1 = time.perf_counter()
            _ezkl.call(ProvingFailed, f"prove ({circuit.name})", ezkl.prove, str(witness),
                       str(circuit.compiled_path), str(pk), str(proof_file), srs_path=str(circuit.srs_path))
            t2 = time.perf_counter()
            proof = proof_from_ezkl(circuit.id, json.loads(proof_file.read_text()))
        flat = [v for column in proof.instances for v in column]
        outputs = circuit.decode_outputs(flat[circuit.num_inputs:])
        return ProveResult(proof=proof, outputs=outputs, witness_s=t1 - t0, prove_s=t2 - t1)


def make_prover(models_dir: Path | None = None, key_cache: Path | None = None,
                srs_dir: Path | None = None) -> EzklProver:
    """Top-level factory (picklable by reference) for building a prover in a worker process."""
    return EzklProver(CircuitRegistry.load(models_dir, srs_dir=srs_dir), key_cache=key_cache)
