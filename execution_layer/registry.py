"""The circuit registry: every model folder under ``models/``, verified at load, one folder at a time.

A folder that fails to load (a hash that does not match, a copied or stale
manifest, another ezkl version, a missing SRS) is kept as a ``BrokenCircuit``
naming why; the good folders load without it. Asking for a broken circuit by
name raises ``CircuitUnavailable`` with that reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from execution_layer import _manifest
from execution_layer._manifest import Manifest
from execution_layer.circuit import Circuit, load_circuit
from execution_layer.types import BrokenCircuit, CircuitNotFound, CircuitUnavailable, ExecutionError, NoCircuitLoads

__all__ = ["CircuitRegistry", "default_models_dir", "DEFAULT_MODEL"]

DEFAULT_MODEL = "digits_cnn"


def default_models_dir() -> Path:
    return Path(__file__).resolve().parent.parent / "models"


@dataclass(frozen=True)
class CircuitRegistry:
    """The loaded circuits, by id, and the folders that failed. Build with ``CircuitRegistry.load``."""

    circuits: tuple[Circuit, ...]
    default_name: str = DEFAULT_MODEL
    broken: tuple[BrokenCircuit, ...] = ()

    @classmethod
    def load(cls, models_dir: Path | None = None, srs_dir: Path | None = None) -> "CircuitRegistry":
        """Load every folder of ``models_dir`` holding a ``manifest.json``, verifying all hashes.

        Folders are tried in name order, each on its own (folders whose name starts
        with a dot, such as a build in progress, are skipped). One that fails with an
        ``ExecutionError`` (CircuitMismatch, StaleManifest, ForeignManifest,
        VersionMismatch, ...) lands in ``broken`` with its reason; the others load.
        Each circuit's SRS is the file its manifest names (``kzg<k>.srs``, one per
        size) in ``srs_dir``, by default ``<models_dir>/srs``; its hash is pinned and
        always checked, each file hashed once. Raises ExecutionError when there is no
        circuit folder at all, NoCircuitLoads when every folder is broken (naming
        each, and a reason they share only once).
        """
        models_dir = Path(models_dir or default_models_dir()).resolve()
        folders = sorted(p.parent for p in models_dir.glob(f"*/{_manifest.MANIFEST}")
                         if not p.parent.name.startswith("."))
        if not folders:
            raise ExecutionError(f"{models_dir}: no circuits (no */manifest.json)")
        srs_hashes: dict[Path, str] = {}
        circuits: list[Circuit] = []
        broken: list[BrokenCircuit] = []
        for folder in folders:
            try:
                circuits.append(_load_one(folder, srs_dir or models_dir / "srs", srs_hashes))
            except ExecutionError as e:
                broken.append(BrokenCircuit(folder=folder, error=type(e), reason=str(e)))
        if not circuits:
            names = ", ".join(b.name for b in broken)
            if len({b.reason.replace(str(b.folder), "<folder>") for b in broken}) == 1:
                why = broken[0].reason  # one cause for all, usually the SRS: say it once
            else:
                why = "; ".join(f"{b.name}: {b.reason}" for b in broken)
            raise NoCircuitLoads(f"{models_dir}: no circuit loads ({names}): {why}", tuple(broken))
        return cls(circuits=tuple(circuits), broken=tuple(broken))

    def get(self, circuit_id: str) -> Circuit:
        for circuit in self.circuits:
            if circuit.id == circuit_id:
                return circuit
        raise CircuitNotFound(f"no circuit with id {circuit_id!r}")

    def by_name(self, name: str) -> Circuit:
        """The loaded circuit named ``name``; CircuitUnavailable (naming why) when its folder is broken,
        CircuitNotFound (naming what there is) when no folder has that name."""
        for circuit in self.circuits:
            if circuit.name == name:
                return circuit
        for bad in self.broken:
            if bad.name == name:
                raise CircuitUnavailable(f"circuit {name} is not loaded: {bad.reason}")
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


def _load_one(folder: Path, srs_dir: Path, srs_hashes: dict[Path, str]) -> Circuit:
    """Load one folder, hashing each SRS file once across the registry (``srs_hashes``)."""
    srs = (Path(srs_dir) / Manifest.read(folder / _manifest.MANIFEST).srs.file).resolve()
    if srs not in srs_hashes and srs.is_file():
        srs_hashes[srs] = _manifest.sha256_file(srs)
    return load_circuit(folder, srs, srs_sha256=srs_hashes.get(srs))
