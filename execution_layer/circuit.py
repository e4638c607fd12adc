"""A circuit as loaded from a model folder: pinned paths and everything a caller needs.

``load_circuit`` verifies every pinned hash (``CircuitMismatch`` names the
offending file) and the ezkl version (``VersionMismatch``) before returning a
``Circuit``. A ``Circuit`` is a frozen, picklable value: it holds paths and
numbers, never open sessions or keys. Its model contract (name, input spec,
timeout, labels) is the folder's ``metadata.json`` as ``ModelMetadata``; it
does not sample inputs: the validator draws them with ``models.sampling``
from ``spec`` and ``samples_path``.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import ezkl
import numpy as np
from numpy.typing import ArrayLike

from execution_layer import _ezkl, _manifest, timeouts
from execution_layer._manifest import Manifest
from execution_layer.timeouts import Measurement
from execution_layer.types import CircuitMismatch, ExecutionError, ForeignManifest, StaleManifest, VersionMismatch
from models.metadata import InputSpec, ModelError, ModelMetadata

__all__ = ["Circuit", "load_circuit", "ezkl_version"]


def ezkl_version() -> str:
    """The installed ezkl's version, as manifests pin it."""
    # ezkl 23.0.5's stub omits __version__, which the native module defines.
    return str(ezkl.__version__)  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Circuit:
    id: str
    directory: Path
    metadata: ModelMetadata  # the folder's metadata.json, as pinned by the manifest
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
    measured: Measurement  # what the build measured (manifest.json's "measured")

    @property
    def self_generated_srs(self) -> bool:
        """Built on an SRS made locally: whoever made it can forge proofs (local/test networks only)."""
        return self.srs_origin == _manifest.SRS_SELF_GENERATED

    @property
    def name(self) -> str:
        return self.metadata.name

    @property
    def description(self) -> str:
        return self.metadata.description

    @property
    def timeout_s(self) -> float:
        """How long a miner has to answer a challenge on this circuit: ``execution_layer.timeouts``'
        rule applied to the build's measured proving time (policy: no file of the circuit holds it)."""
        return timeouts.timeout_for(self.measured)

    @property
    def heavy(self) -> bool:
        """A proof takes over ``timeouts.HEAVY_S`` on the minimum miner: opt-in for the local subnet and setup."""
        return timeouts.is_heavy(self.measured)

    @property
    def prove_s(self) -> float:
        """Seconds one proof took when the circuit was built (median; on ``measured.cores`` cores)."""
        return self.measured.prove_s

    @property
    def labels(self) -> tuple[str, ...]:
        return self.metadata.labels

    @property
    def spec(self) -> InputSpec:
        """The input spec of metadata.json: shape, range, and the sampler's noise."""
        return self.metadata.input

    @property
    def input_shape(self) -> tuple[int, ...]:
        return self.spec.shape

    @property
    def input_range(self) -> tuple[float, float]:
        return (self.spec.low, self.spec.high)

    @property
    def input_scale(self) -> int:
        """The scale of the (only) input: a value x is encoded as round(x * 2**scale)."""
        return self.input_scales[0]

    @property
    def input_size(self) -> int:
        return self.spec.size

    def check_inputs(self, inputs: ArrayLike) -> np.ndarray[Any, np.dtype[np.float32]]:
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

    def run_onnx(self, inputs: ArrayLike) -> np.ndarray[Any, Any]:
        """The model's float outputs for ``inputs`` under onnxruntime (flattened, float32)."""
        arr = self.check_inputs(inputs)
        session = _session(str(self.onnx_path))
        name = session.get_inputs()[0].name
        return np.asarray(session.run(None, {name: arr})[0], dtype=np.float32).reshape(-1)

    def encode_inputs(self, inputs: ArrayLike) -> tuple[tuple[str, ...], ...]:
        """The field elements a proof for ``inputs`` must carry as its input instances.

        One tuple per model input, each value as ``ezkl.float_to_felt`` gives it at the
        input scale (64 hex chars, little-endian). Raises ValueError for bad inputs.
        """
        arr = self.check_inputs(inputs).reshape(-1)
        scale = self.input_scale
        # The stub marks input_type required; the native function defaults it (to F32), and
        # the pinned proofs were made with that default.
        return (tuple(ezkl.float_to_felt(float(x), scale) for x in arr),)  # type: ignore[call-arg]

    def decode_outputs(self, felts: Sequence[str]) -> tuple[float, ...]:
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
def _session(onnx_path: str) -> Any:  # onnxruntime.InferenceSession (onnxruntime ships no types)
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

    Checks, in order: the manifest parses; it names the model of this folder
    (ForeignManifest: a copied folder brought another model's manifest along);
    the ezkl version equals the manifest's (VersionMismatch); every artifact and
    data file hashes to its pin (CircuitMismatch naming the file; StaleManifest
    when it is ``model.onnx``, which means the model changed and must be rebuilt); the SRS (``srs_path``, default
    ``<directory>/../srs/<manifest srs file>``) hashes to its pin; the circuit id
    recomputes from the pins; metadata.json parses (``ModelMetadata``) and names
    the model as the manifest does; the circuit has one input and one output
    tensor and its input instance matches metadata.json's input shape
    (ExecutionError). ``srs_sha256`` lets a caller pass the SRS hash it already
    computed for this path.
    """
    directory = Path(directory).resolve()
    manifest = Manifest.read(directory / _manifest.MANIFEST)
    if manifest.name != directory.name:
        raise ForeignManifest(
            f"{directory / _manifest.MANIFEST}: this manifest belongs to {manifest.name}, not {directory.name}: "
            f"rebuild with python -m execution_layer.build {directory}"
        )
    if manifest.ezkl_version != ezkl_version():
        raise VersionMismatch(
            f"{directory.name} was built with ezkl {manifest.ezkl_version} but ezkl {ezkl_version()} is installed; "
            f"install ezkl=={manifest.ezkl_version} (as pinned in pyproject.toml) or rebuild the circuit"
        )
    for kind, pin in manifest.pins:
        try:
            _manifest.check_file(directory / pin.path, pin.sha256)
        except CircuitMismatch as e:
            if kind == "onnx" and e.actual != "missing":
                raise StaleManifest(e.path, e.expected, e.actual, folder=str(directory)) from None
            raise
    artifacts, data = manifest.artifacts, manifest.data
    srs = Path(srs_path) if srs_path else directory.parent / "srs" / manifest.srs.file
    srs = srs.resolve()
    if srs_sha256 is None:
        _manifest.check_file(srs, manifest.srs.sha256)
    elif srs_sha256 != manifest.srs.sha256:
        raise CircuitMismatch(str(srs), manifest.srs.sha256, srs_sha256)
    if manifest.pinned_id != manifest.circuit_id:
        raise CircuitMismatch(str(directory / _manifest.MANIFEST), manifest.circuit_id, manifest.pinned_id)
    try:
        metadata = ModelMetadata.read(directory / data.metadata.path)
    except ModelError as e:
        raise ExecutionError(f"{directory.name}: {e}") from None
    if metadata.name != manifest.name:
        raise ExecutionError(f"{directory.name}: metadata.json names the model {metadata.name!r}, "
                             f"the manifest {manifest.name!r}")
    try:
        settings = json.loads((directory / artifacts.settings.path).read_text())
        shapes = tuple(tuple(int(d) for d in s) for s in settings["model_instance_shapes"])
        input_scales = tuple(int(s) for s in settings["model_input_scales"])
        output_scales = tuple(int(s) for s in settings["model_output_scales"])
        logrows = int(settings["run_args"]["logrows"])
    except (KeyError, ValueError, TypeError) as e:
        raise ExecutionError(f"{directory}: settings.json malformed ({e!r})") from None
    _check_layout(directory.name, metadata.input.shape, shapes, input_scales, output_scales)
    return Circuit(
        id=manifest.circuit_id,
        directory=directory,
        metadata=metadata,
        input_scales=input_scales,
        output_scales=output_scales,
        model_instance_shapes=shapes,
        logrows=logrows,
        onnx_path=directory / artifacts.onnx.path,
        settings_path=directory / artifacts.settings.path,
        compiled_path=directory / artifacts.compiled.path,
        vk_path=directory / artifacts.vk.path,
        srs_path=srs,
        samples_path=directory / data.samples.path,
        vk_sha256=artifacts.vk.sha256,
        proof_bytes=manifest.proof_bytes,
        srs_origin=manifest.srs.origin,
        measured=manifest.measured,
    )
