"""The shipped model folders, discovered as the registry discovers them (no hard-coded names or counts).

``SHIPPED`` is what the tests parametrize "every shipped circuit" over: the circuits of models/ that
load. A folder that does not (a copied folder's foreign manifest, a stale build) is left out of it, so
it fails one test, ``test_every_circuit_folder_shipped_loads``, naming the folder and why, instead of
every test that goes through the shipped circuits.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from execution_layer import CircuitRegistry, ExecutionError, default_models_dir

__all__ = ["MODELS", "circuit_folder_names", "loaded_circuit_names", "SHIPPED", "copy_models"]

MODELS = default_models_dir()


def circuit_folder_names(models_dir: Path = MODELS) -> list[str]:
    """The names of the circuit folders of ``models_dir``, sorted: every folder holding a
    ``manifest.json`` whose name does not start with a dot, as ``CircuitRegistry.load`` finds them."""
    return sorted(p.parent.name for p in Path(models_dir).glob("*/manifest.json") if not p.parent.name.startswith("."))


def loaded_circuit_names(models_dir: Path = MODELS) -> list[str]:
    """The circuit folders of ``models_dir`` that load (``CircuitRegistry.load``'s circuits), sorted;
    empty when none does."""
    try:
        return [c.name for c in CircuitRegistry.load(models_dir)]
    except ExecutionError:
        return []


SHIPPED = tuple(loaded_circuit_names())  # what tests parametrize "every shipped circuit" over


def copy_models(target: Path, models_dir: Path = MODELS) -> Path:
    """Copy every circuit folder of ``models_dir`` that loads, and its ``srs/``, into ``target``
    (created); returns it. A copy so holds no broken folder unless the test breaks one."""
    target.mkdir(parents=True, exist_ok=True)
    for name in (*loaded_circuit_names(models_dir), "srs"):
        shutil.copytree(Path(models_dir) / name, target / name, ignore=shutil.ignore_patterns("__pycache__"))
    return target
