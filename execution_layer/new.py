"""A model folder from an existing ONNX file, no torch: ``python -m execution_layer.new NAME --onnx FILE ...``.

For model authors whose model already exists as ONNX (exported elsewhere, or
written with ``onnx.helper``). Makes ``<models>/NAME/`` holding ``model.onnx``
(a byte-for-byte copy, or, when the input has dynamic dims, the same model
with the chosen shape written into its declared dims: ezkl cannot size a
circuit over an unnamed batch), ``metadata.json`` (written by
``ModelMetadata.write``, never by hand) and ``samples.npy``, ready for
``python -m execution_layer.build <models>/NAME``. No ``__init__.py`` and no
``train.py``: the registry finds folders by their ``manifest.json``, and
nothing imports a folder that has no training script.

Checks, in order, all before anything is written (``ModelRefused``, or the
build's ``UnsupportedOpset`` / ``BuildFailed`` for the opset and a file that is
not ONNX, naming what to do):

1. ``NAME`` is a Python identifier (a folder name that can later hold a
   ``train.py`` run as ``python -m models.NAME.train``), ``<models>`` exists,
   and ``<models>/NAME`` does not, unless ``force``;
2. the file is an ONNX model in one file (no external data) whose ai.onnx
   opset lies in ``execution_layer.build.SUPPORTED_OPSETS`` (``check_opset``);
3. the graph has exactly one input (initializers listed as inputs, as older
   exporters do, are weights, not inputs) and exactly one output: the circuit
   layout the loader accepts (``execution_layer.circuit._check_layout``);
4. the input is a float32 tensor;
5. the input shape: the graph's, with every dynamic dim (a batch) set to 1;
   ``shape`` overrides it and must have the graph's rank and agree on every
   fixed dim (a graph without a declared shape needs ``shape``);
6. the spec (``InputSpec``: ``low < high``, ``noise_std >= 0``) and the samples:
   ``samples`` (any array whose rows hold the input's size) must fit the spec
   (``models.sampling.Sampler``'s check); without it, ``draws`` uniform draws
   in ``[low, high]`` from ``rng`` (a sampler and calibration over real
   held-out samples fit the model better: say so to the author);
7. onnxruntime runs the model (as it will be written) on the first sample (its failure is a
   ``ModelRefused`` quoting onnxruntime), and ``labels``, when given, number
   exactly the values of that output.

Then the folder is written beside its final place (``.NAME.new-*``, which the
registry skips) and renamed into place; with ``force`` the old folder is
replaced whole (its circuit files and manifest go too: they belonged to the
old model), so a failure of any kind leaves ``<models>`` as it was.
"""

from __future__ import annotations

import argparse
import math
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import onnx

from execution_layer._folders import swap_in
from execution_layer._manifest import FILES
from execution_layer.build import SUPPORTED_OPSETS, check_opset
from execution_layer.registry import default_models_dir
from execution_layer.types import ExecutionError
from models.metadata import InputSpec, ModelError, ModelMetadata
from models.sampling import Sampler

__all__ = ["ModelRefused", "NewModel", "DEFAULT_DRAWS", "new_model", "main"]

DEFAULT_DRAWS = 64  # uniform rows written when the author has no samples of their own
_NOISE_OF_RANGE = 0.05  # default noise_std: 5% of the range (digits_cnn's 0.05 over [0, 1])


class ModelRefused(ExecutionError):
    """The ONNX file or the flags cannot make a model folder; the message says why and what to do."""


@dataclass(frozen=True)
class NewModel:
    """What ``new_model`` wrote: the folder, its metadata, and facts worth telling the author.

    ``samples_from`` is the ``.npy`` file the rows came from, None when they are
    uniform draws; ``outputs`` is the shape onnxruntime returned for one input;
    ``dims_fixed`` tells that model.onnx is the source with its dynamic input dims
    written in (else it is the source file byte for byte).
    """

    folder: Path
    metadata: ModelMetadata
    opset: int
    rows: int
    samples_from: Path | None
    outputs: tuple[int, ...]
    dims_fixed: bool


def new_model(name: str, onnx_path: Path, *, low: float, high: float, models_dir: Path,
              rng: np.random.Generator, shape: Sequence[int] | None = None, samples: Path | None = None,
              labels: Sequence[str] = (), description: str = "", noise_std: float | None = None,
              accuracy: float = 0.0, draws: int = DEFAULT_DRAWS, force: bool = False) -> NewModel:
    """Make ``models_dir/name`` from the ONNX file at ``onnx_path`` (checks in the module docstring's order).

    ``noise_std`` defaults to 5% of ``high - low``; ``description`` to one naming
    the source file; ``accuracy`` is the held-out accuracy the author measured
    (0 when unknown: only display reads it). ``calibration_scales`` is left
    empty (ezkl chooses; the build's ``--scales`` overrides). Returns what was
    written; raises ``ModelRefused`` (or the build's ``UnsupportedOpset`` /
    ``BuildFailed``) with nothing written.
    """
    onnx_path, models_dir = Path(onnx_path), Path(models_dir)
    folder = models_dir / name
    if not name.isidentifier():
        raise ModelRefused(f"model name {name!r} must be a Python identifier (letters, digits, _; e.g. "
                           f"{_identifier(name)!r}): it names the folder and its package")
    if not models_dir.is_dir():
        raise ModelRefused(f"no folder {models_dir}: pass --models with the folder holding the model folders "
                           "and srs/ (default: the repository's models/)")
    if folder.exists() and not force:
        raise ModelRefused(f"{folder} already exists: pick another name, or pass --force to replace the whole "
                           "folder (its circuit and manifest too)")
    if not onnx_path.is_file():
        raise ModelRefused(f"no ONNX file at {onnx_path}")
    opset = check_opset(onnx_path)
    model = onnx.load(str(onnx_path), load_external_data=False)
    graph = model.graph
    if any(t.data_location == onnx.TensorProto.EXTERNAL for t in graph.initializer):
        raise ModelRefused(f"{onnx_path} keeps its weights in external data files: save it as one file "
                           "(onnx.save(onnx.load(path), out, save_as_external_data=False)) and pass that")
    weights = {t.name for t in graph.initializer}
    inputs = [i for i in graph.input if i.name not in weights]
    if len(inputs) != 1 or len(graph.output) != 1:
        raise ModelRefused(
            f"{onnx_path} has {len(inputs)} input(s) ({_names(inputs)}) and {len(graph.output)} output(s) "
            f"({_names(graph.output)}); a circuit takes exactly one input tensor and gives one output tensor: "
            "re-export the model with its inputs concatenated into one tensor and one output"
        )
    tensor = inputs[0].type.tensor_type if inputs[0].type.HasField("tensor_type") else None
    if tensor is None or tensor.elem_type != onnx.TensorProto.FLOAT:
        kind = onnx.TensorProto.DataType.Name(tensor.elem_type) if tensor else inputs[0].type.WhichOneof("value")
        raise ModelRefused(f"{onnx_path}: input {inputs[0].name!r} is {kind}, not a float32 tensor; circuits "
                           "take float32 inputs: re-export the model with a float32 input (cast inside the model "
                           "if it needs another type)")
    graph_dims = [d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else None
                  for d in tensor.shape.dim] if tensor.HasField("shape") else None
    spec_shape = _input_shape(onnx_path, inputs[0].name, graph_dims, shape)
    if noise_std is None:
        noise_std = _NOISE_OF_RANGE * (high - low) if math.isfinite(high - low) else 0.0
    try:
        spec = InputSpec(shape=spec_shape, low=float(low), high=float(high), noise_std=float(noise_std))
    except ModelError as e:
        raise ModelRefused(f"input spec: {e}") from None
    if samples is not None:
        try:
            sampler = Sampler.load(Path(samples), spec)
        except ModelError as e:
            raise ModelRefused(f"{e}: pass rows of {spec.size} values {list(spec.shape)} in [{spec.low}, "
                               f"{spec.high}], or widen --low/--high") from None
    else:
        if draws < 1:
            raise ModelRefused(f"draws must be >= 1, got {draws}")
        sampler = Sampler(spec, rng.uniform(spec.low, spec.high, size=(draws, *spec.shape)).astype(np.float32))
    pool = sampler.samples
    fixed = _fix_dims(model, inputs[0].name, spec.shape)
    model_bytes = fixed.SerializeToString() if fixed is not None else onnx_path.read_bytes()
    outputs = _run_once(onnx_path, model_bytes, inputs[0].name, pool[0])
    size = math.prod(outputs)
    if labels and len(labels) != size:
        raise ModelRefused(f"{len(labels)} labels given but the model's output holds {size} values "
                           f"{list(outputs)}: pass one label per output value, or none")
    try:
        metadata = ModelMetadata(
            name=name,
            description=description or f"{onnx_path.name}, imported with python -m execution_layer.new",
            held_out_accuracy=float(accuracy),
            input=spec,
            labels=tuple(labels),
            calibration_scales=(),
        )
    except ModelError as e:
        raise ModelRefused(str(e)) from None
    _write(folder, model_bytes, metadata, pool)
    return NewModel(folder=folder, metadata=metadata, opset=opset, rows=len(pool),
                    samples_from=Path(samples) if samples is not None else None, outputs=outputs,
                    dims_fixed=fixed is not None)


def _identifier(name: str) -> str:
    """``name`` made into an identifier, for the error's example."""
    fixed = "".join(c if c.isalnum() or c == "_" else "_" for c in name) or "my_model"
    return fixed if fixed.isidentifier() else f"m_{fixed}"


def _names(values: Sequence[onnx.ValueInfoProto]) -> str:
    return ", ".join(v.name for v in values) or "none"


def _dims(dims: Sequence[int | None]) -> str:
    return "[" + ", ".join("?" if d is None else str(d) for d in dims) + "]"


def _input_shape(onnx_path: Path, input_name: str, graph_dims: list[int | None] | None,
                 shape: Sequence[int] | None) -> tuple[int, ...]:
    """The input shape: the graph's with dynamic dims set to 1, or ``shape`` checked against it."""
    if shape is None:
        if graph_dims is None:
            raise ModelRefused(f"{onnx_path}: input {input_name!r} declares no shape: pass --shape (e.g. --shape 1,13)")
        return tuple(1 if d is None else d for d in graph_dims)
    wanted = tuple(int(d) for d in shape)
    if graph_dims is None:
        return wanted
    fixed_differ = [i for i, (g, w) in enumerate(zip(graph_dims, wanted)) if g is not None and g != w]
    if len(wanted) != len(graph_dims) or fixed_differ:
        where = (f"rank {len(wanted)}, the graph's is {len(graph_dims)}" if len(wanted) != len(graph_dims)
                 else f"dim {fixed_differ[0]} is fixed at {graph_dims[fixed_differ[0]]} in the graph")
        raise ModelRefused(f"--shape {list(wanted)} does not fit input {input_name!r} {_dims(graph_dims)} of "
                           f"{onnx_path} ({where}): keep the graph's fixed dims, choose only the ? ones "
                           "(or leave --shape out: they become 1)")
    return wanted


def _fix_dims(model: onnx.ModelProto, input_name: str, shape: tuple[int, ...]) -> onnx.ModelProto | None:
    """A copy of ``model`` whose input has ``shape`` in every dynamic dim, or None when it has no dynamic dim.

    ezkl's ONNX reader (tract) cannot size a circuit over a symbol it was not
    told ("Undetermined symbol in expression"), so the folder's model.onnx has
    the shape written in: the input's dims, and every declared dim (outputs,
    value_info) named by a symbol the input's dims fixed (a ``batch`` axis).
    """
    (value,) = [i for i in model.graph.input if i.name == input_name]
    dims = value.type.tensor_type.shape.dim
    if all(d.HasField("dim_value") and d.dim_value > 0 for d in dims) and len(dims) == len(shape):
        return None
    fixed = onnx.ModelProto()
    fixed.CopyFrom(model)
    (value,) = [i for i in fixed.graph.input if i.name == input_name]
    dims = value.type.tensor_type.shape.dim
    symbols = {d.dim_param: n for d, n in zip(dims, shape) if d.HasField("dim_param") and d.dim_param}
    del dims[:]
    for n in shape:
        dims.add().dim_value = n
    for info in (*fixed.graph.output, *fixed.graph.value_info):
        for dim in info.type.tensor_type.shape.dim:
            if dim.HasField("dim_param") and dim.dim_param in symbols:
                dim.dim_value = symbols[dim.dim_param]
    return fixed


def _run_once(onnx_path: Path, model_bytes: bytes, input_name: str, row: np.ndarray) -> tuple[int, ...]:
    """The output shape onnxruntime gives for ``row``; ModelRefused quoting onnxruntime when it cannot run it."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    try:
        session = onnxruntime.InferenceSession(model_bytes, options, providers=["CPUExecutionProvider"])
        out: Any = session.run(None, {input_name: np.ascontiguousarray(row, dtype=np.float32)})[0]
    except Exception as e:  # onnxruntime raises its own Fail/InvalidArgument/... classes, all untyped
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ModelRefused(f"onnxruntime cannot run {onnx_path} on an input of shape {list(row.shape)}: {first} "
                           "(check --shape, or that the model runs under onnxruntime at all)") from None
    return tuple(int(d) for d in np.shape(out))


def _write(folder: Path, model_bytes: bytes, metadata: ModelMetadata, pool: np.ndarray) -> None:
    """Write the three files into ``.NAME.new-*`` beside ``folder``, then rename it into place
    (an existing ``folder`` is moved aside first and removed once the new one is in)."""
    work = Path(tempfile.mkdtemp(prefix=f".{folder.name}.new-", dir=folder.parent))
    try:
        (work / FILES.onnx).write_bytes(model_bytes)
        metadata.write(work / FILES.metadata)
        np.save(work / FILES.samples, np.asarray(pool, dtype=np.float32))
        work.chmod(0o755)  # mkdtemp makes it 0700; a model folder is an ordinary folder
        swap_in(work, folder)
    finally:
        shutil.rmtree(work, ignore_errors=True)  # gone already once renamed into place


def _shape(text: str) -> tuple[int, ...]:
    try:
        dims = tuple(int(d) for d in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not comma-separated integers (e.g. 1,13)") from None
    if not dims or any(d < 1 for d in dims):
        raise argparse.ArgumentTypeError(f"{text!r}: every dim must be >= 1")
    return dims


def _shown(path: Path) -> str:
    """``path`` relative to the working directory when it lies under it (as the author would type it)."""
    path = path.resolve()
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m execution_layer.new",
        description="Make a model folder (model.onnx, metadata.json, samples.npy) from an existing ONNX file, "
        "ready for python -m execution_layer.build; no torch needed.",
    )
    parser.add_argument("name", help="the model's name: the folder <models>/NAME (a Python identifier)")
    parser.add_argument("--onnx", type=Path, required=True, metavar="FILE",
                        help=f"the ONNX model (one float32 input, one output, ai.onnx opset {SUPPORTED_OPSETS[0]} "
                        f"to {SUPPORTED_OPSETS[-1]}); copied as is, "
                        "or with --shape written into its dynamic input dims")
    parser.add_argument("--low", type=float, required=True,
                        help="lowest value an input may hold (inputs are clipped to [low, high] and the circuit "
                        "is calibrated over that range)")
    parser.add_argument("--high", type=float, required=True, help="highest value an input may hold")
    parser.add_argument("--shape", type=_shape, default=None,
                        help="input shape, comma-separated (e.g. 1,13); default: the graph's input shape with "
                        "dynamic dims (the batch) set to 1; must keep the graph's fixed dims")
    parser.add_argument("--samples", type=Path, default=None, metavar="FILE.npy",
                        help=".npy of real held-out inputs, one row per input (each row the input's size, values "
                        "in [low, high]): the validators' sampler pool; default: --draws uniform draws in "
                        "[low, high] (real samples give a better sampler and calibration)")
    parser.add_argument("--labels", default="",
                        help="comma-separated names, one per output value (display only; default: none)")
    parser.add_argument("--description", default="", help="one line describing the model (default: names the file)")
    parser.add_argument("--noise-std", dest="noise_std", type=float, default=None,
                        help="std of the noise the sampler adds to a sample (default: 5%% of high - low)")
    parser.add_argument("--accuracy", type=float, default=0.0,
                        help="held-out accuracy you measured, in [0, 1] (display only; default 0: not measured)")
    parser.add_argument("--draws", type=int, default=DEFAULT_DRAWS,
                        help=f"uniform rows to write without --samples (default {DEFAULT_DRAWS})")
    parser.add_argument("--seed", type=int, default=0, help="seed of those uniform draws (default 0)")
    parser.add_argument("--models", type=Path, default=default_models_dir(), metavar="DIR",
                        help="folder holding the model folders and srs/ (default: the repository's models/)")
    parser.add_argument("--force", action="store_true",
                        help="replace an existing <models>/NAME whole (its circuit files and manifest too)")
    args = parser.parse_args(argv)
    labels = [label.strip() for label in args.labels.split(",")] if args.labels else []
    try:
        made = new_model(args.name, args.onnx, low=args.low, high=args.high, models_dir=args.models,
                         rng=np.random.default_rng(args.seed), shape=args.shape, samples=args.samples,
                         labels=labels, description=args.description, noise_std=args.noise_std,
                         accuracy=args.accuracy, draws=args.draws, force=args.force)
    except (ExecutionError, OSError) as e:
        print(f"new failed: {e}", file=sys.stderr)
        return 1
    spec = made.metadata.input
    folder = _shown(made.folder)
    print(f"{made.metadata.name}: wrote {folder}/")
    how = f"its dynamic input dims set to {list(spec.shape)}" if made.dims_fixed else "as is"
    print(f"  model.onnx     from {args.onnx}, {how} (ai.onnx opset {made.opset}); onnxruntime ran it: "
          f"output {list(made.outputs)}")
    print(f"  metadata.json  input {list(spec.shape)} float32 in [{spec.low}, {spec.high}], noise_std "
          f"{spec.noise_std:g}, {len(made.metadata.labels)} label(s)")
    if made.samples_from is not None:
        print(f"  samples.npy    {made.rows} rows from {made.samples_from}")
    else:
        print(f"  samples.npy    {made.rows} uniform draws in [{spec.low}, {spec.high}] (seed {args.seed}); real "
              "held-out samples (--samples) give validators a better sampler and the build a better calibration")
    print("next: build its circuit with")
    print(f"  python -m execution_layer.build {folder}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
