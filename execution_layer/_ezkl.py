"""The one place ezkl's errors are translated, and its JSON files written/read.

ezkl's Python API works on files and signals failure by raising RuntimeError
(or occasionally returning False). ``call`` runs one ezkl function and maps
any failure to the given ExecutionError subclass with ezkl's message. When
that class is ``BuildFailed`` (build stages only), two failures a model author
can act on get their own leaves (``classify`` maps them; the texts are ezkl
23.0.5's):

- ``UnsupportedOp`` (op and node named) for tract's (ezkl's ONNX reader)
  ``Translating node #1 "my_mish" Unimplemented(Mish) ToTypedTranslator``;
- ``CalibrationFailed`` (what to try, with the build's flags) for
  ``calibration failed, could not find any suitable parameters given the calibration dataset``.
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Callable, TypeVar

import numpy as np

from execution_layer.types import BuildFailed, CalibrationFailed, ExecutionError, UnsupportedOp

__all__ = ["quiet_native_logs", "call", "classify", "CALIBRATION_HINT", "LOGROWS_CAP", "write_input", "SRS_HEADER_BYTES", "srs_logrows", "FIELD_MODULUS", "is_felt"]

T = TypeVar("T")
SRS_HEADER_BYTES = 4
# The order of BN254's scalar field, where ezkl's (halo2's) instances live.
FIELD_MODULUS = 21888242871839275222246405745257275088548364400416034343698204186575808495617
_HEX64 = re.compile(r"[0-9a-f]{64}")


def is_felt(value: object) -> bool:
    """True for a canonical field element as ezkl writes it: 64 lowercase hex chars, little-endian, < p.

    Checked before handing values to ezkl, whose parsers panic on non-canonical input.
    """
    return (isinstance(value, str) and _HEX64.fullmatch(value) is not None
            and int.from_bytes(bytes.fromhex(value), "little") < FIELD_MODULUS)


_NATIVE_LOGGERS = ("ezkl", "halo2_proofs")


def quiet_native_logs(level: int = logging.WARNING) -> None:
    """Raise the level of the loggers ezkl's native code logs to (hundreds of INFO lines per proof).

    For entry scripts, after they configure logging; the library never calls it itself.
    """
    for name in _NATIVE_LOGGERS:
        logging.getLogger(name).setLevel(level)


def _clean(message: str) -> str:
    message = re.sub(r"\s+", " ", message).strip()
    return message[:500]


_TRACT_UNIMPLEMENTED = re.compile(r'Translating node #\d+ "(?P<node>[^"]*)" Unimplemented\((?P<op>[^)]*)\)')
_CALIBRATION = "could not find any suitable parameters"
LOGROWS_CAP = 17  # the largest circuit a build makes: 2**17 rows (keys of a few hundred MB and more)
CALIBRATION_HINT = (
    "try, in order: other scales (--scales 4,6,8, or calibration_scales in metadata.json), a narrower input "
    "range (input.low/input.high in metadata.json: values over the range must fit the lookup tables), or a "
    f"smaller model (the build stops at 2**{LOGROWS_CAP} rows: {LOGROWS_CAP} logrows)"
)


def classify(stage: str, message: str) -> ExecutionError | None:
    """The precise error for ezkl's ``message`` at ``stage``, or None when it is none of the known kinds."""
    if match := _TRACT_UNIMPLEMENTED.search(message):
        op, node = match["op"], match["node"]
        return UnsupportedOp(f"{stage}: ezkl cannot build operator {op} (node {node!r}): it is not supported; "
                             f"replace it in the model (docs/custom_circuit_integration.md lists what works)",
                             op=op, node=node)
    if _CALIBRATION in message:
        return CalibrationFailed(f"{stage}: calibration found no settings that fit the model over its input "
                                 f"range; {CALIBRATION_HINT}")
    return None


def call(error: type[ExecutionError], stage: str, fn: Callable[..., T], *args: object, **kwargs: object) -> T:
    """Run ``fn``; on an exception or a False result raise ``error("<stage>: <ezkl message>")``,
    or the precise leaf ``classify`` finds for ezkl's message."""
    try:
        result = fn(*args, **kwargs)
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as e:  # RuntimeError, TypeError, ValueError, or pyo3's PanicException (a BaseException)
        message = _clean(str(e)) or type(e).__name__
        if issubclass(error, BuildFailed) and (precise := classify(stage, message)) is not None:
            raise precise from None
        if "OOR" in message or "out of range" in message.lower():
            message += " (an input or intermediate value lies outside the range the circuit was calibrated for)"
        raise error(f"{stage}: {message}") from None
    if result is False:
        raise error(f"{stage}: ezkl returned False")
    return result


def write_input(path: Path, values: np.ndarray) -> None:
    """Write ezkl's input JSON for one model input: ``{"input_data": [[floats]]}``."""
    flat = np.asarray(values, dtype=np.float32).reshape(-1)
    path.write_text(json.dumps({"input_data": [[float(v) for v in flat]]}))


def srs_logrows(path: Path) -> int:
    """The logrows (k) of a KZG SRS file: halo2 writes k as a little-endian u32 first."""
    with open(path, "rb") as f:
        head = f.read(SRS_HEADER_BYTES)
    if len(head) != SRS_HEADER_BYTES:
        raise ExecutionError(f"{path}: not an SRS file")
    return int.from_bytes(head, "little")
