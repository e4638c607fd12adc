"""Circuit sweep (a benchmark, not a test): ``python -m bench.circuit_sweep models/NAME``.

For one model folder it builds the circuit once per row of a small grid of
ezkl run args and prints (and with ``--out FILE`` writes) a markdown table,
one line per row: logrows, input/param scale, the range-check settings
(decomp_base x decomp_legs), num_inner_cols, calibrate s, setup s, witness s,
prove s (median of ``--prove-runs``), proving-key MB, proof bytes, the max
abs error of the circuit's outputs against onnxruntime over the held-out
samples, and whether it calibrated at all (a row that did not says why).

Row one is always ``ezkl defaults``: ``gen_settings`` with a bare
``PyRunArgs`` and ``calibrate_settings(..., "resources")`` with ezkl's own
scale range and multipliers, so every other row is read against bare ezkl.
Its logrows are capped at ``--max-logrows`` as every row's (default 17, the
build's cap; uncapped, bare ezkl chose at most 17 for every shipped model). Every row, that one included, uses the project's
visibility (inputs and outputs public, params fixed), which changes the
cost a little and the error not at all.

A grid row (``--grid``) is ``KEY=VALUE`` pairs joined by commas:

* ``scales=7`` or ``scales=6/8``: the scales calibration may try (input and
  param scale; ezkl's own range if absent);
* ``decomp=512x4``: decomp_base x decomp_legs (ezkl's 16384x2 if absent);
* ``cols=2``: num_inner_cols (ezkl's 2 if absent);
* ``rebase=1/10``: the scale-rebase multipliers calibration may try;
* ``logrows=auto`` (calibration's choice, capped at ``--max-logrows``) or
  ``logrows=13``: calibrate with that cap, then pin logrows to it, as the
  build pins a circuit to its SRS.

Every row works in its own temporary folder (the model folder is only read).
Setup needs an SRS of the row's logrows: ``kzg<k>.srs`` in ``--srs-dir``,
generated there when missing (self-generated: fine for timing, never for a
network). The error is measured on ``--samples`` held-out samples (all by
default): the witness's outputs decoded at the circuit's output scale against
onnxruntime on the same float input. Calibration is over the build's data
(``calibration_inputs``), or a smaller share of it with ``--calibration-samples``
and ``--calibration-draws`` (faster, and it shows in ``calibrate s``). One proof per row is verified; a row
whose proof does not verify is a failed row.

The machine's load shows in every time; run it on a quiet machine, one
sweep at a time (ezkl uses every core).
"""

from __future__ import annotations

import argparse
import json
import contextlib
import logging
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import ezkl
import numpy as np

from execution_layer import _ezkl
from execution_layer.build import calibration_inputs, srs_file
from execution_layer.output_error import max_output_error, onnx_outputs
from execution_layer.types import BuildFailed, CalibrationFailed, ExecutionError
from models.metadata import METADATA, ModelError, ModelMetadata
from models.sampling import Sampler

__all__ = ["GridRow", "RowResult", "SweepModel", "COLUMNS", "DEFAULTS", "DEFAULT_GRID", "SweepError", "parse_row",
           "sweep_row", "measure_settings", "srs_for", "sweep", "format_table", "main"]

log = logging.getLogger(__name__)

_MAX_LOGROWS = 17  # the build's cap
_SAMPLES_FILE, _ONNX = "samples.npy", "model.onnx"


class SweepError(Exception):
    """Root of the sweep's errors: a grid row or a model folder it cannot use."""


@dataclass(frozen=True)
class GridRow:
    """One set of run args to try. ``None`` leaves a setting to ezkl (see the module docstring)."""

    label: str
    scales: tuple[int, ...] | None = None
    decomp: tuple[int, int] | None = None
    num_inner_cols: int | None = None
    rebase: tuple[int, ...] | None = None
    logrows: int | None = None  # None: calibration's choice
    ezkl_defaults: bool = False  # bare PyRunArgs and calibrate_settings's own defaults


DEFAULTS = GridRow("ezkl defaults", ezkl_defaults=True)
# What ``--grid`` is when not given: the project's current setting (scale 10, 512x4, logrows 11
# as the build pinned it), then its natural size, then lower/higher scales and range checks.
DEFAULT_GRID = ("scales=10,decomp=512x4,logrows=11", "scales=10,decomp=512x4", "scales=7,decomp=512x4",
                "scales=8,decomp=512x4", "scales=12,decomp=512x4", "scales=10,decomp=4096x3",
                "scales=10,decomp=512x4,cols=4")


@dataclass(frozen=True)
class RowResult:
    """What one row measured; ``failure`` says why a row stopped (then the later fields are None)."""

    row: GridRow
    calibrated: bool
    failure: str | None = None
    logrows: int | None = None
    input_scale: int | None = None
    param_scale: int | None = None
    decomp_base: int | None = None
    decomp_legs: int | None = None
    num_inner_cols: int | None = None
    calibrate_s: float | None = None
    setup_s: float | None = None
    witness_s: float | None = None
    prove_s: float | None = None
    pk_bytes: int | None = None
    proof_bytes: int | None = None
    max_abs_error: float | None = None
    samples: int = 0

    @property
    def pk_mb(self) -> float | None:
        """The proving key's size in MB (10^6 bytes, as docs/hardware.md counts)."""
        return None if self.pk_bytes is None else self.pk_bytes / 1e6


# (header, how a result shows in that column); the table's columns, in order.
COLUMNS: tuple[tuple[str, Callable[[RowResult], str]], ...] = (
    ("row", lambda r: r.row.label),
    ("calibrated", lambda r: "yes" if r.calibrated else "no"),
    ("logrows", lambda r: _show(r.logrows)),
    ("input scale", lambda r: _show(r.input_scale)),
    ("param scale", lambda r: _show(r.param_scale)),
    ("decomp", lambda r: "-" if r.decomp_base is None else f"{r.decomp_base}x{r.decomp_legs}"),
    ("cols", lambda r: _show(r.num_inner_cols)),
    ("calibrate s", lambda r: _show(r.calibrate_s, "{:.1f}")),
    ("setup s", lambda r: _show(r.setup_s, "{:.1f}")),
    ("witness s", lambda r: _show(r.witness_s, "{:.2f}")),
    ("prove s", lambda r: _show(r.prove_s, "{:.2f}")),
    ("pk MB", lambda r: _show(r.pk_mb, "{:.0f}")),
    ("proof bytes", lambda r: _show(r.proof_bytes)),
    ("max abs error", lambda r: _show(r.max_abs_error, "{:.2e}")),
    ("note", lambda r: r.failure or ""),
)


def _show(value: float | int | None, fmt: str = "{}") -> str:
    return "-" if value is None else fmt.format(value)


def _ints(text: str, key: str) -> tuple[int, ...]:
    try:
        values = tuple(int(v) for v in text.split("/"))
    except ValueError:
        raise SweepError(f"{key}={text}: expected integers joined by '/', e.g. {key}=7/8") from None
    return values


def parse_row(text: str) -> GridRow:
    """The grid row ``text`` describes (``scales=7,decomp=512x4,cols=2,rebase=10,logrows=auto``).

    Raises SweepError naming the bad pair and the keys allowed.
    """
    options: dict[str, Any] = {}
    for pair in filter(None, (p.strip() for p in text.split(","))):
        key, sep, value = pair.partition("=")
        if not sep or not value:
            raise SweepError(f"grid row {text!r}: {pair!r} is not KEY=VALUE (keys: scales, decomp, cols, rebase, logrows)")
        if key == "scales":
            options["scales"] = _ints(value, key)
        elif key == "rebase":
            options["rebase"] = _ints(value, key)
        elif key == "decomp":
            base, x, legs = value.partition("x")
            if not x or not base.isdigit() or not legs.isdigit() or int(base) < 2 or int(legs) < 1:
                raise SweepError(f"grid row {text!r}: decomp={value}: expected BASExLEGS, e.g. decomp=512x4")
            options["decomp"] = (int(base), int(legs))
        elif key == "cols":
            if not value.isdigit() or int(value) < 1:
                raise SweepError(f"grid row {text!r}: cols={value}: expected a positive integer")
            options["num_inner_cols"] = int(value)
        elif key == "logrows":
            if value != "auto" and not value.isdigit():
                raise SweepError(f"grid row {text!r}: logrows={value}: expected 'auto' or an integer")
            options["logrows"] = None if value == "auto" else int(value)
        else:
            raise SweepError(f"grid row {text!r}: unknown key {key!r} (keys: scales, decomp, cols, rebase, logrows)")
    return GridRow(label=text.strip(), **options)


@dataclass(frozen=True)
class SweepModel:
    """The parts of a model folder a row needs, read once (``SweepModel.read``)."""

    onnx: Path
    metadata: ModelMetadata
    sampler: Sampler
    calibration: np.ndarray

    @classmethod
    def read(cls, folder: Path, *, calibration_samples: int | None = None,
             calibration_draws: int = 200) -> SweepModel:
        """The model in ``folder``; calibration data as the build makes it, optionally from fewer rows."""
        try:
            metadata = ModelMetadata.read(folder / METADATA)
            sampler = Sampler.load(folder / _SAMPLES_FILE, metadata.input)
        except ModelError as e:
            raise SweepError(f"{folder}: not a model folder the sweep can use ({e})") from None
        onnx_path = folder / _ONNX
        if not onnx_path.is_file():
            raise SweepError(f"{folder}: no {_ONNX}: train the model first (python -m models.{folder.name}.train)")
        pool = Sampler(metadata.input, sampler.samples[:calibration_samples]) if calibration_samples else sampler
        calibration = calibration_inputs(pool, np.random.default_rng(0), draws=calibration_draws)
        return cls(onnx_path, metadata, sampler, calibration)

    def held_out(self, samples: int | None = None) -> list[np.ndarray]:
        """The first ``samples`` held-out samples (all when None), each in the model's input shape."""
        pool = self.sampler.samples if samples is None else self.sampler.samples[:samples]
        return [np.asarray(v, dtype=np.float32).reshape(self.metadata.input.shape) for v in pool]


def _run_args(row: GridRow) -> ezkl.PyRunArgs:
    args = ezkl.PyRunArgs()
    # ezkl 23.0.5's stub of PyRunArgs lists only some settable attributes; the native class has these.
    args.input_visibility = "public"  # type: ignore[attr-defined]
    args.output_visibility = "public"  # type: ignore[attr-defined]
    args.param_visibility = "fixed"  # type: ignore[attr-defined]
    if row.decomp is not None:
        args.decomp_base, args.decomp_legs = row.decomp  # type: ignore[attr-defined]
    if row.num_inner_cols is not None:
        args.num_inner_cols = row.num_inner_cols  # type: ignore[attr-defined]
    return args


@contextlib.contextmanager
def _native_stdout_silenced() -> Iterator[None]:
    """Send file descriptor 1 to /dev/null: calibrate_settings prints its error tables there from Rust."""
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 1)
        yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)


def srs_for(srs_dir: Path, logrows: int) -> Path:
    """``srs_dir/kzg<logrows>.srs``, generated when missing (self-generated: for timing only)."""
    path = srs_file(srs_dir, logrows)
    if not path.exists():
        log.info("generating a timing-only SRS at logrows %d in %s", logrows, path)
        srs_dir.mkdir(parents=True, exist_ok=True)
        _ezkl.call(BuildFailed, "gen_srs", ezkl.gen_srs, str(path), logrows)
    return path


def sweep_row(model: SweepModel, row: GridRow, *, work: Path, srs_dir: Path, samples: int | None = None,
              prove_runs: int = 3, max_logrows: int = _MAX_LOGROWS) -> RowResult:
    """Build ``model`` with ``row``'s run args in ``work`` (an empty folder) and measure it.

    Steps: gen_settings, calibrate (over ``calibration_inputs``, as the build), pin logrows
    when the row names one, compile, setup, witness and prove one held-out sample
    ``prove_runs`` times (the median is reported), verify that proof, then the witness of
    each of the first ``samples`` held-out samples (all when None) against onnxruntime.
    Calibration's logrows are capped at the row's logrows, else ``max_logrows`` (the
    defaults row included). A calibration failure gives ``calibrated=False``; any other
    ezkl failure a calibrated row with ``failure`` set; neither raises.
    """
    onnx_file, settings, compiled = str(model.onnx), str(work / "settings.json"), str(work / "model.compiled")
    data = work / "calibration.json"
    data.write_text(json.dumps({"input_data": [[float(v) for v in model.calibration.reshape(-1)]]}))
    try:
        _ezkl.call(BuildFailed, "gen_settings", ezkl.gen_settings, onnx_file, settings, py_run_args=_run_args(row))
        options: dict[str, Any] = {"max_logrows": row.logrows or max_logrows}
        if not row.ezkl_defaults:
            options.update(scales=list(row.scales) if row.scales else None,
                           scale_rebase_multiplier=list(row.rebase) if row.rebase else None)
            options = {k: v for k, v in options.items() if v is not None}
        t0 = time.perf_counter()
        with _native_stdout_silenced():
            _ezkl.call(BuildFailed, "calibrate_settings", ezkl.calibrate_settings, str(data), onnx_file, settings,
                       "resources", **options)
        calibrate_s = time.perf_counter() - t0
    except CalibrationFailed:
        return RowResult(row, calibrated=False, failure="calibration found no suitable parameters")
    except BuildFailed as e:
        return RowResult(row, calibrated=False, failure=str(e)[:160])

    doc = json.loads(Path(settings).read_text())
    if row.logrows is not None and doc["run_args"]["logrows"] < row.logrows:
        doc["run_args"]["logrows"] = row.logrows
        Path(settings).write_text(json.dumps(doc))
    return _measured(model, row, doc, calibrate_s=calibrate_s, work=work, srs_dir=srs_dir, samples=samples,
                     prove_runs=prove_runs)


def measure_settings(model: SweepModel, settings: Path, *, label: str, work: Path, srs_dir: Path,
                     samples: int | None = None, prove_runs: int = 3) -> RowResult:
    """Measure the circuit an existing ``settings`` file describes, as ``sweep_row`` measures a row.

    For a circuit whose run args were chosen elsewhere (a shipped circuit's settings.json,
    as its build calibrated and pinned it): the settings are copied into ``work`` (an
    empty folder), then the same steps as every row after calibration: compile, setup
    with ``srs_dir``'s SRS of the settings' logrows, prove and verify, the error over the
    held-out samples. The result's row is ``GridRow(label)`` and its ``calibrate_s`` None
    (nothing was calibrated here). An ezkl failure gives a row with ``failure`` set; it
    does not raise. ``work`` keeps ``model.compiled``, ``vk.key`` and ``pk.key`` for the caller.
    """
    doc = json.loads(Path(settings).read_text())
    (work / "settings.json").write_text(json.dumps(doc))
    return _measured(model, GridRow(label), doc, calibrate_s=None, work=work, srs_dir=srs_dir, samples=samples,
                     prove_runs=prove_runs)


def _measured(model: SweepModel, row: GridRow, doc: dict[str, Any], *, calibrate_s: float | None, work: Path,
              srs_dir: Path, samples: int | None, prove_runs: int) -> RowResult:
    """The row of ``work/settings.json`` (``doc``): its run args, then ``_measure``'s numbers or its failure."""
    run_args = doc["run_args"]
    result = RowResult(row, calibrated=True, logrows=run_args["logrows"], input_scale=run_args["input_scale"],
                       param_scale=run_args["param_scale"], decomp_base=run_args["decomp_base"],
                       decomp_legs=run_args["decomp_legs"], num_inner_cols=run_args["num_inner_cols"],
                       calibrate_s=calibrate_s)
    try:
        return _measure(model, result, doc, work=work, srs_dir=srs_dir, samples=samples, prove_runs=prove_runs)
    except ExecutionError as e:
        return replace(result, failure=str(e)[:160])


def _measure(model: SweepModel, result: RowResult, settings_doc: dict[str, Any], *, work: Path, srs_dir: Path,
             samples: int | None, prove_runs: int) -> RowResult:
    settings, compiled = str(work / "settings.json"), str(work / "model.compiled")
    vk, pk = str(work / "vk.key"), work / "pk.key"
    onnx_file = str(model.onnx)
    srs = str(srs_for(srs_dir, settings_doc["run_args"]["logrows"]))
    _ezkl.call(BuildFailed, "compile_circuit", ezkl.compile_circuit, onnx_file, compiled, settings)
    t0 = time.perf_counter()
    _ezkl.call(BuildFailed, "setup", ezkl.setup, compiled, vk, str(pk), srs_path=srs)
    setup_s = time.perf_counter() - t0

    pool = model.held_out(samples)
    data, witness, proof = work / "input.json", work / "witness.json", work / "proof.json"
    witness_times, prove_times = [], []
    for _ in range(prove_runs):
        _ezkl.write_input(data, pool[0])
        t0 = time.perf_counter()
        _ezkl.call(ExecutionError, "gen_witness", ezkl.gen_witness, str(data), compiled, str(witness),
                   vk_path=vk, srs_path=srs)
        t1 = time.perf_counter()
        _ezkl.call(ExecutionError, "prove", ezkl.prove, str(witness), compiled, str(pk), str(proof), srs_path=srs)
        witness_times.append(t1 - t0)
        prove_times.append(time.perf_counter() - t1)
    _ezkl.call(ExecutionError, "verify", ezkl.verify, str(proof), settings, vk, srs_path=srs)
    proof_bytes = len(json.loads(proof.read_text())["proof"])

    reference = onnx_outputs(model.onnx, pool)  # per row, a few ms: every row compares with the same outputs
    error = max_output_error(Path(compiled), Path(settings), pool, reference, work=work, stage="gen_witness")
    return replace(result, setup_s=setup_s, witness_s=statistics.median(witness_times),
                    prove_s=statistics.median(prove_times), pk_bytes=pk.stat().st_size,
                    proof_bytes=proof_bytes, max_abs_error=error, samples=len(pool))


def sweep(folder: Path, grid: Sequence[GridRow], *, srs_dir: Path, samples: int | None = None, prove_runs: int = 3,
          max_logrows: int = _MAX_LOGROWS, calibration_samples: int | None = None, calibration_draws: int = 200,
          on_row: Callable[[RowResult], None] | None = None) -> list[RowResult]:
    """``DEFAULTS`` then every row of ``grid`` on the model in ``folder``, each in a temp folder of its own.

    Calibration data is ``calibration_inputs`` (as the build) over the first
    ``calibration_samples`` held-out samples (all when None) with ``calibration_draws``
    sampler draws. ``on_row`` is called with each result as it is measured. Raises
    SweepError for a folder that is not a usable model; rows themselves never raise
    (see ``sweep_row``).
    """
    model = SweepModel.read(Path(folder), calibration_samples=calibration_samples, calibration_draws=calibration_draws)
    results = []
    for row in (DEFAULTS, *grid):
        log.info("%s: %s", model.metadata.name, row.label)
        with tempfile.TemporaryDirectory(prefix="poi-sweep-") as tmp:
            result = sweep_row(model, row, work=Path(tmp), srs_dir=srs_dir, samples=samples, prove_runs=prove_runs,
                               max_logrows=max_logrows)
        results.append(result)
        if on_row is not None:
            on_row(result)
    return results


def format_table(results: Sequence[RowResult]) -> str:
    """The markdown table of ``results``: a header of ``COLUMNS``, then one line per result."""
    lines = ["| " + " | ".join(header for header, _ in COLUMNS) + " |",
             "|" + "|".join("---" for _ in COLUMNS) + "|"]
    lines += ["| " + " | ".join(show(r).replace("|", "/") for _, show in COLUMNS) + " |" for r in results]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.circuit_sweep", description=(__doc__ or "").split("\n\n")[0],
        epilog="Grid rows: KEY=VALUE pairs joined by commas; keys scales (7 or 6/8), decomp (512x4), cols (2), "
        "rebase (1/10), logrows (auto or 13). Row one is always 'ezkl defaults'.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("folder", type=Path, help="the model folder, e.g. models/digits_cnn (only read)")
    parser.add_argument("--grid", nargs="+", metavar="ROW", default=list(DEFAULT_GRID),
                        help="the rows to try after 'ezkl defaults', e.g. --grid scales=7,decomp=512x4 scales=10")
    parser.add_argument("--out", type=Path, default=None, help="also write the markdown table to this file")
    parser.add_argument("--srs-dir", dest="srs_dir", type=Path, default=None,
                        help="where kzg<k>.srs files are looked up and generated when missing (timing only: a "
                        "generated SRS is never for a network); default: a temporary folder, removed afterwards")
    parser.add_argument("--samples", type=int, default=None,
                        help="measure the error on the first N held-out samples (default: all of samples.npy)")
    parser.add_argument("--prove-runs", dest="prove_runs", type=int, default=3,
                        help="proofs per row; the table shows the median time")
    parser.add_argument("--max-logrows", dest="max_logrows", type=int, default=_MAX_LOGROWS,
                        help="the cap on calibration's logrows for 'ezkl defaults' and logrows=auto rows (the build's cap)")
    parser.add_argument("--calibration-samples", dest="calibration_samples", type=int, default=None,
                        help="calibrate over the first N held-out samples only (default: all, as the build); "
                        "calibration time grows with the rows: ezkl's defaults try dozens of scale pairs")
    parser.add_argument("--calibration-draws", dest="calibration_draws", type=int, default=200,
                        help="sampler draws added to the calibration data (the build's 200)")
    args = parser.parse_args(argv)
    try:
        grid = [parse_row(text) for text in args.grid]
    except SweepError as e:
        parser.error(str(e))
    if any(n is not None and n < 1 for n in (args.samples, args.calibration_samples)) or args.prove_runs < 1 \
            or args.calibration_draws < 0:
        parser.error("--samples, --calibration-samples and --prove-runs must be at least 1, --calibration-draws at least 0")
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    _ezkl.quiet_native_logs(logging.ERROR)  # calibration logs a fidelity report per try as a warning

    def show(result: RowResult) -> None:
        print(format_table([result]).splitlines()[-1], flush=True)

    print(format_table([]), end="", flush=True)
    with tempfile.TemporaryDirectory(prefix="poi-sweep-srs-") as default_srs:
        try:
            results = sweep(args.folder, grid, srs_dir=args.srs_dir or Path(default_srs), samples=args.samples,
                            prove_runs=args.prove_runs, max_logrows=args.max_logrows,
                            calibration_samples=args.calibration_samples, calibration_draws=args.calibration_draws,
                            on_row=show)
        except SweepError as e:
            print(f"sweep failed: {e}", file=sys.stderr)
            return 1
    table = format_table(results)
    if args.out is not None:
        args.out.write_text(table)
        print(f"table written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
