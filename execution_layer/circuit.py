"""A circuit as loaded from a model folder: pinned paths and everything a caller needs.

``load_circuit`` verifies every pinned hash (``CircuitMismatch`` names the
offending file) and the ezkl version (``VersionMismatch``) before returning a
``Circuit``. A ``Circuit`` is a frozen, picklable value: it holds paths and
numbers, never open sessions or keys.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path

import ezkl
import numpy as np

from execution_layer import _ezkl, _manifest
from execution_layer.types import CircuitMismatch, ExecutionError, VersionMismatch
from models.sampling import InputSpec, sample_near

__all__ = ["Circuit", "load_circuit", "ezkl_version"]


def ezkl_version() -> str:
    return ezkl.__version__


@dataclass(frozen=True)
class Circuit:
    id: str
    name: str
    description: str
    directory: Path
    input_shape: tuple[int, ...]
    input_range: tuple[float, float]
    noise_std: float
    timeout_s: float
    held_out_accuracy: float
    labels: tuple[str, ...]
    input_scales: tuple[int, ...]
    output_scales: tuple[int, ...]
    model_instance_shapes: tuple[tuple[int, ...], ...]
    logrows: int
    onnx_path: Path
    settings_path: Path
    compiled_path: Path
    vk_path: Path
    srs_path: Path
    samples_path: Path
    vk_sha256: str
    proof_bytes: int
    srs_origin: str  # "ceremony" or "self-generated" (see execution_layer._manifest)

    @property
    def self_generated_srs(self) -> bool:
        """Built on an SRS made locally: whoever made it can forge proofs (local/test networks only)."""
        return self.srs_origin == _manifest.SRS_SELF_GENERATED

    @property
    def input_scale(self) -> int:
        """The scale of the (only) input: a value x is encoded as round(x * 2**scale)."""
        return self.input_scales[0]

    @property
    def input_size(self) -> int:
        return int(np.prod(self.input_shape))

    @property
    def spec(self) -> InputSpec:
        low, high = self.input_range
        return InputSpec(shape=self.input_shape, low=low, high=high, noise_std=self.noise_std)

    def sample_inputs(self, rng: np.random.Generator) -> np.ndarray:
        """A fresh float32 input of ``input_shape`` inside ``input_range`` (see models.sampling)."""
        return sample_near(np.load(self.samples_path), self.spec, rng)

    def check_inputs(self, inputs) -> np.ndarray:
        """Return ``inputs`` as float32 of ``input_shape``; raise ValueError if the size is wrong,
        a value is not finite or lies outside ``input_range``."""
        arr = np.asarray(inputs, dtype=np.float32)
        if arr.size != self.input_size:
            raise ValueError(f"{self.name} takes {self.input_size} values {self.input_shape}, got {arr.size}")
        low, high = self.input_range
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"{self.name}: inputs must be finite numbers")
        if arr.min() < low or arr.max() > high:
            raise ValueError(f"{self.name}: inputs must lie in [{low}, {high}], got [{arr.min()}, {arr.max()}]")
        return arr.reshape(self.input_shape)

    def run_onnx(self, inputs) -> np.ndarray:
        """The model's float outputs for ``inputs`` under onnxruntime (flattened, float32)."""
        arr = self.check_inputs(inputs)
        session = _session(str(self.onnx_path))
        name = session.get_inputs()[0].name
        return np.asarray(session.run(None, {name: arr})[0], dtype=np.float32).reshape(-1)

    def encode_inputs(self, inputs) -> tuple[tuple[str, ...], ...]:
        """The field elements a proof for ``inputs`` must carry as its input instances.

        One tuple per model input, each value as ``ezkl.float_to_felt`` gives it at the
        input scale (64 hex chars, little-endian). Raises ValueError for bad inputs.
        """
        arr = self.check_inputs(inputs).reshape(-1)
        scale = self.input_scale
        return (tuple(ezkl.float_to_felt(float(x), scale) for x in arr),)

    def decode_outputs(self, felts) -> tuple[float, ...]:
        """Floats of the output field elements, by ``ezkl.felt_to_float`` at the output scale.

        Raises ValueError for a value that is not a canonical field element."""
        if not all(_ezkl.is_felt(f) for f in felts):
            raise ValueError("outputs must be canonical field elements")
        scale = self.output_scales[0]
        return tuple(float(ezkl.felt_to_float(f, scale)) for f in felts)

    @property
    def num_inputs(self) -> int:
        """How many instance values are inputs (the rest are outputs)."""
        return int(np.prod(self.model_instance_shapes[0]))

    @property
    def num_instances(self) -> int:
        return sum(int(np.prod(s)) for s in self.model_instance_shapes)


@functools.lru_cache(maxsize=16)
def _session(onnx_path: str):
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    return onnxruntime.InferenceSession(onnx_path, options, providers=["CPUExecutionProvider"])


def _check_layout(name: str, input_shape: tuple[int, ...], shapes: tuple[tuple[int, ...], ...],
                  input_scales: tuple[int, ...], output_scales: tuple[int, ...]) -> None:
    """Raise ExecutionError unless the circuit has one input and one output and its input
    instance holds exactly the values of metadata.json's input shape.

    The verifier binds a proof to the validator's inputs by comparing the first
    ``prod(shapes[0])`` instances with the encoded input: any other layout would
    leave inputs unchecked or decode outputs at the wrong scale.
    """
    if len(input_scales) != 1 or len(output_scales) != 1 or len(shapes) != 2:
        raise ExecutionError(
            f"{name}: the circuit has {len(input_scales)} input(s), {len(output_scales)} output(s) and "
            f"{len(shapes)} instance shape(s); circuits must have exactly one input and one output tensor"
        )
    if int(np.prod(shapes[0])) != int(np.prod(input_shape)):
        raise ExecutionError(
            f"{name}: metadata.json's input shape {list(input_shape)} does not match the circuit's "
            f"input instance shape {list(shapes[0])}"
        )


def load_circuit(directory: Path, srs_path: Path | None = None, *, srs_sha256: str | None = None) -> Circuit:
    """Load and verify the circuit in ``directory``.

    Checks, in order: the manifest parses; the ezkl version equals the manifest's
    (VersionMismatch); every artifact and data file hashes to its pin
    (CircuitMismatch naming the file); the SRS (``srs_path``, default
    ``<directory>/../srs/<manifest srs file>``) hashes to its pin; the circuit id
    recomputes from the pins; the circuit has one input and one output tensor and
    its input instance matches metadata.json's input shape (ExecutionError). ``srs_sha256`` lets a caller pass the SRS hash it
    already computed for this path.
    """
    directory = Path(directory).resolve()
    manifest = _manifest.read_manifest(directory)
    built_with = manifest["ezkl_version"]
    if built_with != ezkl_version():
        raise VersionMismatch(
            f"{directory.name} was built with ezkl {built_with} but ezkl {ezkl_version()} is installed; "
            f"install ezkl=={built_with} (as pinned in pyproject.toml) or rebuild the circuit"
        )
    paths = {}
    for section, names in (("artifacts", _manifest.ARTIFACTS), ("data", _manifest.DATA)):
        for key in names:
            pin = manifest[section][key]
            paths[key] = directory / pin["path"]
            _manifest.check_file(paths[key], pin["sha256"])
    srs = Path(srs_path) if srs_path else directory.parent / "srs" / manifest["srs"]["file"]
    srs = srs.resolve()
    if srs_sha256 is None:
        _manifest.check_file(srs, manifest["srs"]["sha256"])
    elif srs_sha256 != manifest["srs"]["sha256"]:
        raise CircuitMismatch(str(srs), manifest["srs"]["sha256"], srs_sha256)
    hashes = {k: manifest["artifacts"][k]["sha256"] for k in _manifest.ARTIFACTS}
    cid = _manifest.circuit_id(hashes, manifest["srs"]["sha256"])
    if cid != manifest["circuit_id"]:
        raise CircuitMismatch(str(directory / _manifest.MANIFEST), manifest["circuit_id"], cid)
    try:
        settings = json.loads(paths["settings"].read_text())
        metadata = json.loads(paths["metadata"].read_text())
        spec = InputSpec.from_json(metadata["input"])
        shapes = tuple(tuple(int(d) for d in s) for s in settings["model_instance_shapes"])
        input_scales = tuple(int(s) for s in settings["model_input_scales"])
        output_scales = tuple(int(s) for s in settings["model_output_scales"])
        _check_layout(directory.name, spec.shape, shapes, input_scales, output_scales)
        return Circuit(
            id=cid,
            name=metadata["name"],
            description=metadata["description"],
            directory=directory,
            input_shape=spec.shape,
            input_range=(spec.low, spec.high),
            noise_std=spec.noise_std,
            timeout_s=float(metadata["timeout_s"]),
            held_out_accuracy=float(metadata["held_out_accuracy"]),
            labels=tuple(metadata.get("labels", ())),
            input_scales=input_scales,
            output_scales=output_scales,
            model_instance_shapes=shapes,
            logrows=int(settings["run_args"]["logrows"]),
            onnx_path=paths["onnx"],
            settings_path=paths["settings"],
            compiled_path=paths["compiled"],
            vk_path=paths["vk"],
            srs_path=srs,
            samples_path=paths["samples"],
            vk_sha256=manifest["artifacts"]["vk"]["sha256"],
            proof_bytes=int(manifest["proof_bytes"]),
            srs_origin=manifest["srs"]["origin"],
        )
    except (KeyError, ValueError, TypeError) as e:
        raise ExecutionError(f"{directory}: settings or metadata malformed ({e!r})") from None
