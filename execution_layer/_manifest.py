"""Manifests: the sha256 pins of a circuit's artifacts, and the circuit id.

``manifest.json`` (written by ``execution_layer.build``) looks like::

    {
      "name": "digits_cnn",
      "ezkl_version": "23.0.5",
      "circuit_id": "<sha256 hex>",
      "artifacts": {"onnx": {"path": "model.onnx", "sha256": "..."},
                    "settings": {...}, "compiled": {...}, "vk": {...}},
      "srs": {"file": "kzg11.srs", "logrows": 11, "sha256": "...", "origin": "self-generated"},
      "proof_bytes": 3072,
      "data": {"metadata": {"path": "metadata.json", "sha256": "..."},
               "samples": {"path": "samples.npy", "sha256": "..."}}
    }

The circuit id is the sha256 of the canonical JSON (sorted keys, no spaces)
of ``{"onnx": h, "settings": h, "compiled": h, "vk": h, "srs": h}``: the
files a proof depends on. ``data`` is pinned too but is not part of the id
(it only feeds the sampler and the display). ``proof_bytes`` is the length
of this circuit's proofs, measured at build: ezkl's verifier ignores trailing
bytes, so the verifier pins the length.

``srs.origin`` says where the SRS came from: ``"ceremony"`` (a public
powers-of-tau ceremony, safe on a public network) or ``"self-generated"``
(made by ``ezkl.gen_srs`` on the builder's machine: whoever holds it can forge
proofs, so it is for local and private test networks only). It is the
builder's statement, not an artifact, so it is not part of the circuit id.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from execution_layer.types import CircuitMismatch, ExecutionError

__all__ = ["ARTIFACTS", "DATA", "SRS_CEREMONY", "SRS_SELF_GENERATED", "SRS_ORIGINS", "sha256_file", "circuit_id",
           "read_manifest", "check_file"]

ARTIFACTS = ("onnx", "settings", "compiled", "vk")
SRS_CEREMONY = "ceremony"
SRS_SELF_GENERATED = "self-generated"
SRS_ORIGINS = (SRS_CEREMONY, SRS_SELF_GENERATED)
DATA = ("metadata", "samples")
MANIFEST = "manifest.json"


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def circuit_id(artifact_hashes: dict[str, str], srs_hash: str) -> str:
    """The id of a circuit: sha256 over its pinned artifact hashes and the SRS hash."""
    pins = {name: artifact_hashes[name] for name in ARTIFACTS}
    pins["srs"] = srs_hash
    canonical = json.dumps(pins, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def read_manifest(directory: Path) -> dict:
    """Parse ``directory/manifest.json``; raise ExecutionError if missing or malformed
    (including an ``srs.origin`` other than those in ``SRS_ORIGINS``)."""
    path = directory / MANIFEST
    try:
        manifest = json.loads(path.read_text())
        for name in ARTIFACTS + DATA:
            section = manifest["artifacts"] if name in ARTIFACTS else manifest["data"]
            section[name]["path"], section[name]["sha256"]
        manifest["srs"]["sha256"], manifest["srs"]["logrows"], manifest["ezkl_version"]
        manifest["name"], manifest["circuit_id"], int(manifest["proof_bytes"])
    except FileNotFoundError:
        raise ExecutionError(f"{path}: no manifest; build the circuit with python -m execution_layer.build") from None
    except (ValueError, KeyError, TypeError) as e:
        raise ExecutionError(f"{path}: malformed manifest ({e!r})") from None
    origin = manifest["srs"].get("origin")
    if origin not in SRS_ORIGINS:
        raise ExecutionError(
            f"{path}: srs.origin is {origin!r}, it must be one of {', '.join(map(repr, SRS_ORIGINS))}; "
            "rebuild the circuit with python -m execution_layer.build (--srs-origin states it)"
        )
    return manifest


def check_file(path: Path, expected: str) -> None:
    """Raise CircuitMismatch naming ``path`` unless it exists and hashes to ``expected``."""
    actual = sha256_file(path) if path.is_file() else "missing"
    if actual != expected:
        raise CircuitMismatch(str(path), expected, actual)
