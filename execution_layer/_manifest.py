"""Manifests: the sha256 pins of a circuit's artifacts, and the circuit id.

``manifest.json`` (written by ``execution_layer.build`` through
``Manifest.write``, read through ``Manifest.read``; nothing else touches its
keys) looks like::

    {
      "name": "digits_cnn",
      "ezkl_version": "23.0.5",
      "artifacts": {"onnx": {"path": "model.onnx", "sha256": "..."},
                    "settings": {...}, "compiled": {...}, "vk": {...}},
      "srs": {"file": "kzg11.srs", "logrows": 11, "sha256": "...", "origin": "self-generated"},
      "proof_bytes": 3072,
      "data": {"metadata": {"path": "metadata.json", "sha256": "..."},
               "samples": {"path": "samples.npy", "sha256": "..."}},
      "measured": {"prove_s": 0.37, "prove_cpu_s": 0.85, "cores": 2, "max_error": 0.0011,
                   "reference_error": 0.0009, "max_error_target": 0.00135},
      "circuit_id": "<sha256 hex>"
    }

The circuit id is the sha256 of the canonical JSON (sorted keys, no spaces)
of ``{"onnx": h, "settings": h, "compiled": h, "vk": h, "srs": h}``: the
files a proof depends on. ``data`` is pinned too but is not part of the id
(it only feeds the sampler and the display). ``proof_bytes`` is the length
of this circuit's proofs, measured at build: ezkl's verifier ignores trailing
bytes, so the verifier pins the length.

``measured`` is what the build measured (``execution_layer.timeouts.Measurement``:
proving time, the machine's cores, the circuit's error against onnxruntime and
the target it met). It is not part of the id either: a circuit's timeout follows
from it by the rule in ``execution_layer.timeouts``, so changing that rule (a
policy) changes no file and no id.

``srs.origin`` says where the SRS came from: ``"ceremony"`` (a public
powers-of-tau ceremony, safe on a public network) or ``"self-generated"``
(made by ``ezkl.gen_srs`` on the builder's machine: whoever holds it can forge
proofs, so it is for local and private test networks only). It is the
builder's statement, not an artifact, so it is not part of the circuit id.

``Manifest.write`` writes the keys in the order above, ``indent=2`` plus a
newline: reading a shipped manifest and writing it again gives the same bytes.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from execution_layer.timeouts import Measurement
from execution_layer.types import CircuitMismatch, ExecutionError
from models.metadata import METADATA

__all__ = ["SRS_CEREMONY", "SRS_SELF_GENERATED", "SRS_ORIGINS", "MANIFEST", "FILES", "Pin", "Artifacts",
           "DataFiles", "SrsPin", "Manifest", "sha256_file", "circuit_id", "check_file"]

SRS_CEREMONY = "ceremony"
SRS_SELF_GENERATED = "self-generated"
SRS_ORIGINS = (SRS_CEREMONY, SRS_SELF_GENERATED)
MANIFEST = "manifest.json"
_SHA256 = re.compile(r"[0-9a-f]{64}")


class _Malformed(ExecutionError):
    """A manifest field is missing or of the wrong type (``from_json`` re-raises it naming the file)."""


@dataclass(frozen=True)
class Pin:
    """One pinned file: its path relative to the model folder, and its sha256 (lowercase hex)."""

    path: str
    sha256: str


@dataclass(frozen=True)
class Artifacts:
    """The circuit's files: with the SRS, exactly what the circuit id covers.

    The field names are the keys of the id's canonical JSON: renaming one changes every id.
    """

    onnx: Pin
    settings: Pin
    compiled: Pin
    vk: Pin


@dataclass(frozen=True)
class DataFiles:
    """The model's data: pinned, but not part of the circuit id (it only feeds the sampler and the display)."""

    metadata: Pin
    samples: Pin


@dataclass(frozen=True)
class SrsPin:
    """The SRS every proof of the circuit uses: file name under ``models/srs``, k, sha256 and origin."""

    file: str
    logrows: int
    sha256: str
    origin: str  # one of SRS_ORIGINS


@dataclass(frozen=True)
class _Files:
    """Where the build puts each file in a model folder (the paths a fresh manifest pins)."""

    onnx: str = "model.onnx"
    settings: str = "settings.json"
    compiled: str = "model.compiled"
    vk: str = "vk.key"
    metadata: str = METADATA
    samples: str = "samples.npy"


FILES = _Files()


@dataclass(frozen=True)
class Manifest:
    """A circuit's ``manifest.json`` (layout in the module docstring).

    ``circuit_id`` is the id as recorded; ``pinned_id`` recomputes it from the
    pins, and the loader refuses a manifest where the two differ.
    """

    name: str
    ezkl_version: str
    artifacts: Artifacts
    srs: SrsPin
    proof_bytes: int
    data: DataFiles
    measured: Measurement
    circuit_id: str

    @classmethod
    def pin(cls, folder: Path, *, name: str, ezkl_version: str, srs_path: Path, logrows: int, srs_origin: str,
            proof_bytes: int, measured: Measurement) -> Manifest:
        """The manifest of the circuit built in ``folder``: hashes its files (at ``FILES``) and the SRS now."""
        folder = Path(folder)

        def pin_of(path: str) -> Pin:
            return Pin(path=path, sha256=sha256_file(folder / path))

        artifacts = Artifacts(**{f.name: pin_of(getattr(FILES, f.name)) for f in fields(Artifacts)})
        srs = SrsPin(file=Path(srs_path).name, logrows=logrows, sha256=sha256_file(Path(srs_path)),
                     origin=srs_origin)
        return cls(
            name=name,
            ezkl_version=ezkl_version,
            artifacts=artifacts,
            srs=srs,
            proof_bytes=proof_bytes,
            data=DataFiles(**{f.name: pin_of(getattr(FILES, f.name)) for f in fields(DataFiles)}),
            measured=measured,
            circuit_id=circuit_id(artifacts, srs.sha256),
        )

    @property
    def pinned_id(self) -> str:
        """The circuit id the pins give (``circuit_id`` is the one recorded)."""
        return circuit_id(self.artifacts, self.srs.sha256)

    @property
    def pins(self) -> tuple[tuple[str, Pin], ...]:
        """Every pinned file of the model folder, (kind, pin): the artifacts, then the data."""
        return tuple((f.name, getattr(section, f.name))
                     for section in (self.artifacts, self.data) for f in fields(section))

    def to_json(self) -> dict[str, Any]:
        # asdict keeps the field order, which is the file's key order.
        return asdict(self)

    @classmethod
    def from_json(cls, data: object, where: str = MANIFEST) -> Manifest:
        """Parse a manifest document; raise ExecutionError (naming ``where``) if it is malformed.

        Checks every key is present with its type (and no unknown key), hashes
        are 64 lowercase hex chars, ``proof_bytes`` and ``logrows`` positive,
        and ``srs.origin`` one of ``SRS_ORIGINS``.
        """
        if isinstance(data, dict) and "measured" not in data and "circuit_id" in data:
            raise ExecutionError(f"{where}: built before builds measured proving time and error (no 'measured'); "
                                 "rebuild the circuit with python -m execution_layer.build")
        try:
            doc = _section(data, "manifest", cls)
            srs = _section(doc["srs"], "srs", SrsPin, origin_optional=True)
            origin = srs.get("origin")
            if origin not in SRS_ORIGINS:
                raise ExecutionError(
                    f"{where}: srs.origin is {origin!r}, it must be one of {', '.join(map(repr, SRS_ORIGINS))}; "
                    "rebuild the circuit with python -m execution_layer.build (--srs-origin states it)"
                )
            manifest = cls(
                name=_typed(doc, "name", str),
                ezkl_version=_typed(doc, "ezkl_version", str),
                artifacts=Artifacts(**_pins(doc["artifacts"], "artifacts", Artifacts)),
                srs=SrsPin(file=_typed(srs, "srs.file", str), logrows=_typed(srs, "srs.logrows", int),
                           sha256=_hash(srs, "srs.sha256"), origin=origin),
                proof_bytes=_typed(doc, "proof_bytes", int),
                data=DataFiles(**_pins(doc["data"], "data", DataFiles)),
                measured=_measurement(doc["measured"]),
                circuit_id=_hash(doc, "circuit_id"),
            )
            if manifest.proof_bytes <= 0 or manifest.srs.logrows <= 0:
                raise _Malformed("proof_bytes and srs.logrows must be positive")
        except _Malformed as e:
            raise ExecutionError(f"{where}: malformed manifest ({e})") from None
        return manifest

    @classmethod
    def read(cls, path: Path) -> Manifest:
        """Parse the manifest at ``path``; ExecutionError if it is missing or malformed (see ``from_json``)."""
        path = Path(path)
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            raise ExecutionError(
                f"{path}: no manifest; build the circuit with python -m execution_layer.build"
            ) from None
        except ValueError as e:
            raise ExecutionError(f"{path}: malformed manifest (not JSON: {e})") from None
        return cls.from_json(data, str(path))

    def write(self, path: Path) -> None:
        """Write this manifest to ``path`` in the canonical layout (``indent=2``, trailing newline)."""
        Path(path).write_text(json.dumps(self.to_json(), indent=2) + "\n")


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def circuit_id(artifacts: Artifacts, srs_sha256: str) -> str:
    """The id of a circuit: sha256 over its pinned artifact hashes and the SRS hash."""
    pins = {f.name: getattr(artifacts, f.name).sha256 for f in fields(Artifacts)}
    pins["srs"] = srs_sha256
    canonical = json.dumps(pins, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def check_file(path: Path, expected: str) -> None:
    """Raise CircuitMismatch naming ``path`` unless it exists and hashes to ``expected``."""
    actual = sha256_file(path) if path.is_file() else "missing"
    if actual != expected:
        raise CircuitMismatch(str(path), expected, actual)


def _section(data: object, where: str, kind: type, *, origin_optional: bool = False) -> dict[str, Any]:
    """``data`` as a dict with exactly the fields of dataclass ``kind`` (``origin`` may be absent: the
    caller reports that with its own message)."""
    if not isinstance(data, dict):
        raise _Malformed(f"{where} is not an object")
    keys = [f.name for f in fields(kind)]
    missing = [k for k in keys if k not in data and not (origin_optional and k == "origin")]
    extra = sorted(set(data) - set(keys))
    if missing or extra:
        raise _Malformed(f"{where}: missing {missing}, unknown {extra}")
    return data


def _pins(data: object, where: str, kind: type) -> dict[str, Pin]:
    section = _section(data, where, kind)
    pins = {}
    for name in section:
        pin = _section(section[name], f"{where}.{name}", Pin)
        pins[name] = Pin(path=_typed(pin, f"{where}.{name}.path", str),
                         sha256=_hash(pin, f"{where}.{name}.sha256"))
    return pins


def _measurement(data: object) -> Measurement:
    section = _section(data, "measured", Measurement)
    reference = section["reference_error"]
    try:
        return Measurement(prove_s=_number(section, "measured.prove_s"),
                           prove_cpu_s=_number(section, "measured.prove_cpu_s"), cores=_typed(section, "measured.cores", int),
                           max_error=_number(section, "measured.max_error"),
                           reference_error=None if reference is None else _number(section, "measured.reference_error"),
                           max_error_target=_number(section, "measured.max_error_target"))
    except ValueError as e:
        raise _Malformed(f"measured: {e}") from None


def _number(data: dict[str, Any], where: str) -> float:
    value = data[where.rsplit(".", 1)[-1]]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _Malformed(f"{where} must be a number, got {value!r}")
    return float(value)


_KINDS = {int: "an integer", str: "a string"}


def _typed(data: dict[str, Any], where: str, kind: type) -> Any:
    """``data``'s value at the last part of ``where`` ("srs.logrows": "logrows"), checked to be a ``kind``."""
    value = data[where.rsplit(".", 1)[-1]]
    # bool is an int in Python; a JSON true is never a count here.
    if not isinstance(value, kind) or isinstance(value, bool):
        raise _Malformed(f"{where} must be {_KINDS[kind]}, got {value!r}")
    return value


def _hash(data: dict[str, Any], where: str) -> str:
    value = data[where.rsplit(".", 1)[-1]]
    if not isinstance(value, str) or not _SHA256.fullmatch(value):
        raise _Malformed(f"{where} must be 64 lowercase hex characters, got {value!r}")
    return value
