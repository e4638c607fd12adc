"""A model's contract: ``metadata.json``, parsed into frozen values.

``metadata.json`` is the one place a model's input spec (and everything else
the product needs to know about the model) is written down. The build, the
circuit loader, the registry and the validator's sampler all read it through
``ModelMetadata.read``; nothing else states a shape or a range. It is pinned
by sha256 in ``manifest.json`` (not part of the circuit id), so a loaded
circuit's metadata is exactly what was built. The model author writes it;
``train.py`` only rewrites the measured ``held_out_accuracy``. The layout::

    {
      "name": "digits_cnn",                 # the folder's name
      "description": "...",
      "held_out_accuracy": 0.9472,          # in [0, 1], measured by train.py
      "input": {"shape": [1, 1, 8, 8], "dtype": "float32",
                "low": 0.0, "high": 1.0, "noise_std": 0.05},
      "labels": ["0", ..., "9"],            # one per output, may be empty
      "calibration_scales": [10]            # scales the build may try; empty: ezkl chooses
    }

There is no timeout here: the build measures proving time and the timeout
follows from it (``execution_layer.timeouts``); a ``timeout_s`` key, as older
folders had, is refused with that explanation.

Every key is required and no other key is allowed: a typo fails loudly
(``ModelError``) instead of being ignored. ``write`` writes the layout above,
keys in that order, ``indent=2`` plus a newline, so ``read`` then ``write``
reproduces the shipped files byte for byte.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["ModelError", "InputSpec", "ModelMetadata", "METADATA"]

METADATA = "metadata.json"


class ModelError(ValueError):
    """Root of the errors of ``models``: a model folder's data is malformed."""


@dataclass(frozen=True)
class InputSpec:
    """Shape, dtype and closed value range ``[low, high]`` of a model's one input.

    ``noise_std`` is the standard deviation of the noise the sampler adds to a
    held-out sample (``models.sampling``). Only ``float32`` inputs exist:
    circuits encode floats, and every layer casts inputs to float32. Raises
    ModelError unless the shape is non-empty positive ints, ``low < high`` are
    finite and ``noise_std`` is finite and not negative.
    """

    shape: tuple[int, ...]
    low: float
    high: float
    noise_std: float
    dtype: str = "float32"

    def __post_init__(self) -> None:
        if not self.shape or not all(isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in self.shape):
            raise ModelError(f"input shape must be positive integers, got {list(self.shape)}")
        if not (math.isfinite(self.low) and math.isfinite(self.high) and self.low < self.high):
            raise ModelError(f"input range must be finite with low < high, got [{self.low}, {self.high}]")
        if not (math.isfinite(self.noise_std) and self.noise_std >= 0):
            raise ModelError(f"noise_std must be finite and >= 0, got {self.noise_std}")
        if self.dtype != "float32":
            raise ModelError(f"input dtype must be 'float32', got {self.dtype!r}")

    @property
    def size(self) -> int:
        """How many values one input holds."""
        return math.prod(self.shape)

    def to_json(self) -> dict[str, Any]:
        return {
            "shape": list(self.shape),
            "dtype": self.dtype,
            "low": self.low,
            "high": self.high,
            "noise_std": self.noise_std,
        }

    @classmethod
    def from_json(cls, data: object) -> InputSpec:
        """Parse metadata.json's ``input`` object; raise ModelError if it is malformed."""
        data = _object(data, "input", ("shape", "dtype", "low", "high", "noise_std"))
        shape = data["shape"]
        if not isinstance(shape, list):
            raise ModelError(f"input.shape must be a list, got {shape!r}")
        return cls(
            shape=tuple(_integer(d, "input.shape") for d in shape),
            low=_number(data["low"], "input.low"),
            high=_number(data["high"], "input.high"),
            noise_std=_number(data["noise_std"], "input.noise_std"),
            dtype=_string(data["dtype"], "input.dtype"),
        )


@dataclass(frozen=True)
class ModelMetadata:
    """A model's ``metadata.json`` (see the module docstring for the file's layout)."""

    name: str
    description: str
    held_out_accuracy: float
    input: InputSpec
    labels: tuple[str, ...]
    calibration_scales: tuple[int, ...]

    def __post_init__(self) -> None:
        if not self.name:
            raise ModelError("name must not be empty")
        if not 0.0 <= self.held_out_accuracy <= 1.0:
            raise ModelError(f"held_out_accuracy must lie in [0, 1], got {self.held_out_accuracy}")

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "held_out_accuracy": self.held_out_accuracy,
            "input": self.input.to_json(),
            "labels": list(self.labels),
            "calibration_scales": list(self.calibration_scales),
        }

    @classmethod
    def from_json(cls, data: object) -> ModelMetadata:
        """Parse a metadata.json document; raise ModelError if it is malformed."""
        if isinstance(data, dict) and "timeout_s" in data:
            raise ModelError("timeout_s is no longer written by hand: the build measures proving time and the "
                             "timeout follows from it (execution_layer/timeouts.py); delete the key and rebuild")
        data = _object(data, "metadata", tuple(cls.__dataclass_fields__))
        labels, scales = data["labels"], data["calibration_scales"]
        if not isinstance(labels, list) or not isinstance(scales, list):
            raise ModelError("labels and calibration_scales must be lists")
        return cls(
            name=_string(data["name"], "name"),
            description=_string(data["description"], "description"),
            held_out_accuracy=_number(data["held_out_accuracy"], "held_out_accuracy"),
            input=InputSpec.from_json(data["input"]),
            labels=tuple(_string(label, "labels") for label in labels),
            calibration_scales=tuple(_integer(s, "calibration_scales") for s in scales),
        )

    @classmethod
    def read(cls, path: Path) -> ModelMetadata:
        """Parse the metadata.json at ``path``; raise ModelError naming it if it is missing or malformed."""
        path = Path(path)
        try:
            return cls.from_json(json.loads(path.read_text()))
        except FileNotFoundError:
            raise ModelError(f"{path}: no such file") from None
        except json.JSONDecodeError as e:
            raise ModelError(f"{path}: not JSON ({e})") from None
        except ModelError as e:
            raise ModelError(f"{path}: {e}") from None

    def write(self, path: Path) -> None:
        """Write this metadata to ``path`` in the canonical layout (``indent=2``, trailing newline)."""
        Path(path).write_text(json.dumps(self.to_json(), indent=2) + "\n")


def _object(data: object, where: str, keys: tuple[str, ...]) -> dict[str, Any]:
    """``data`` as a dict holding exactly ``keys``, else ModelError naming what is missing or extra."""
    if not isinstance(data, dict):
        raise ModelError(f"{where} must be a JSON object")
    missing = [k for k in keys if k not in data]
    extra = sorted(set(data) - set(keys))
    if missing or extra:
        problems = ([f"missing {', '.join(missing)}"] if missing else []) + (
            [f"unknown {', '.join(extra)}"] if extra else [])
        raise ModelError(f"{where}: {'; '.join(problems)} (keys are: {', '.join(keys)})")
    return data


def _number(value: object, where: str) -> float:
    # bool is an int in Python; true/false in JSON is never a number here.
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ModelError(f"{where} must be a number, got {value!r}")
    return float(value)


def _integer(value: object, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ModelError(f"{where} must hold integers, got {value!r}")
    return value


def _string(value: object, where: str) -> str:
    if not isinstance(value, str):
        raise ModelError(f"{where} must be a string, got {value!r}")
    return value
