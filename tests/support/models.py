"""The shipped model folders, discovered as the registry discovers them (no hard-coded names or counts)."""

from __future__ import annotations

import shutil
from pathlib import Path

from execution_layer import default_models_dir

__all__ = ["MODELS", "circuit_folder_names", "SHIPPED", "copy_models"]

MODELS = default_models_dir()


def circuit_folder_names(models_dir: Path = MODELS) -> list[str]:
    """The names of the circuit folders of ``models_dir``, sorted: every folder holding a
    ``manifest.json`` whose name does not start with a dot, as ``CircuitRegistry.load`` finds them."""
    return sorted(p.parent.name for p in Path(models_dir).glob("*/manifest.json") if not p.parent.name.startswith("."))


SHIPPED = tuple(circuit_folder_names())  # what tests parametrize "every shipped circuit" over


def copy_models(target: Path, models_dir: Path = MODELS) -> Path:
    """Copy every circuit folder of ``models_dir`` and its ``srs/`` into ``target`` (created); returns it."""
    target.mkdir(parents=True, exist_ok=True)
    for name in (*circuit_folder_names(models_dir), "srs"):
        shutil.copytree(Path(models_dir) / name, target / name, ignore=shutil.ignore_patterns("__pycache__"))
    return target
