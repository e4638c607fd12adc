"""The circuit registry: every model folder under ``models/``, verified at load."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from execution_layer import _manifest
from execution_layer._manifest import Manifest
from execution_layer.circuit import Circuit, load_circuit
from execution_layer.types import CircuitNotFound, ExecutionError

__all__ = ["CircuitRegistry", "default_models_dir", "DEFAULT_MODEL"]

DEFAULT_MODEL = "digits_cnn"


def default_models_dir() -> Path:
    return Path(__file__).resolve().parent.parent / "models"


@dataclass(frozen=True)
class CircuitRegistry:
    """The loaded circuits, by id. Build with ``CircuitRegistry.load``."""

    circuits: tuple[Circuit, ...]
    default_name: str = DEFAULT_MODEL

    @classmethod
    def load(cls, models_dir: Path | None = None, srs_path: Path | None = None) -> "CircuitRegistry":
        """Load every folder of ``models_dir`` holding a ``manifest.json``, verifying all hashes.

        ``srs_path`` overrides where the SRS is read from (each circuit's manifest
        pins its hash; it is always checked). Raises CircuitMismatch / VersionMismatch
        for the first circuit that fails, ExecutionError if none is found.
        """
        models_dir = Path(models_dir or default_models_dir()).resolve()
        folders = sorted(p.parent for p in models_dir.glob(f"*/{_manifest.MANIFEST}"))
        if not folders:
            raise ExecutionError(f"{models_dir}: no circuits (no */manifest.json)")
        srs_hashes: dict[Path, str] = {}
        circuits = []
        for folder in folders:
            if srs_path:
                srs = Path(srs_path).resolve()
            else:
                srs = (folder.parent / "srs" / Manifest.read(folder / _manifest.MANIFEST).srs.file).resolve()
            if srs not in srs_hashes and srs.is_file():
                srs_hashes[srs] = _manifest.sha256_file(srs)
            circuits.append(load_circuit(folder, srs, srs_sha256=srs_hashes.get(srs)))
        return cls(circuits=tuple(circuits))

    def get(self, circuit_id: str) -> Circuit:
        for circuit in self.circuits:
            if circuit.id == circuit_id:
                return circuit
        raise CircuitNotFound(f"no circuit with id {circuit_id!r}")

    def by_name(self, name: str) -> Circuit:
        for circuit in self.circuits:
            if circuit.name == name:
                return circuit
        raise CircuitNotFound(f"no circuit named {name!r} (have: {', '.join(c.name for c in self.circuits)})")

    @property
    def default(self) -> Circuit:
        """The default circuit (the digits CNN); falls back to the first if it is not shipped."""
        try:
            return self.by_name(self.default_name)
        except CircuitNotFound:
            return self.circuits[0]

    def __iter__(self) -> Iterator[Circuit]:
        return iter(self.circuits)

    def __len__(self) -> int:
        return len(self.circuits)

    def __contains__(self, circuit_id: object) -> bool:
        return any(c.id == circuit_id for c in self.circuits)
