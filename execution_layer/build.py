from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import ezkl
import numpy as np
import onnx
from tqdm import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

from execution_layer import _ezkl, _manifest, timeouts
from execution_layer._folders import swap_in
from execution_layer._manifest import FILES, Manifest
from execution_layer.circuit import ezkl_version
from execution_layer.output_error import max_output_error, onnx_outputs
from execution_layer.timeouts import Measurement
from execution_layer.types import (
    BuildFailed,
    CircuitTooSlow,
    ExecutionError,
    FidelityMissed,
    SrsMissing,
    UnsupportedOpset,
)
from models.metadata import ModelError, ModelMetadata
from models.sampling import Sampler

__all__ = ["STAGES", "SUPPORTED_OPSETS", "LOGROWS_CAP", "REFERENCE_FACTOR", "FIDELITY_ROWS", "PROVE_RUNS",
           "build", "check_opset", "calibration_inputs", "srs_file", "main"]

log = logging.getLogger(__name__)

_DECOMP_BASE = 512
_DECOMP_LEGS = 4
LOGROWS_CAP = _ezkl.LOGROWS_CAP
REFERENCE_FACTOR = 1.5  # the default target: within 1.5x of bare ezkl's error on the same model
FIDELITY_ROWS = 32  # held-out inputs the error is measured over
PROVE_RUNS = 3  # timed proofs of held-out inputs; their median is the circuit's proving time
STAGES = ("gen_settings", "reference", "calibrate", "srs", "setup", "measure", "manifest")  # to ``on_stage``, in order
# The ai.onnx opsets a model may use, both ends included: what both runtimes run. onnxruntime (the
# validator's fidelity check, the demo) has no kernels below opset 7 (e.g. "Could not find an
# implementation for Gemm(6)"); ezkl 23.0.5 reads ONNX with tract, which is "only tested against
# operator set 9 to 18" (its own warning). The intersection is 9..18; the shipped models use 17.
SUPPORTED_OPSETS = range(9, 19)


def srs_file(srs_dir: Path, logrows: int) -> Path:
    """Where the SRS of ``logrows`` lives: ``<srs_dir>/kzg<logrows>.srs`` (one file per size)."""
    return Path(srs_dir) / f"kzg{logrows}.srs"


def check_opset(onnx_path: Path) -> int:
    """The model's ai.onnx opset; UnsupportedOpset (naming the range and how to convert) outside ``SUPPORTED_OPSETS``."""
    try:
        model = onnx.load(str(onnx_path), load_external_data=False)
    except Exception as e:  # onnx raises DecodeError, OSError, ... for a file that is not a model
        raise BuildFailed(f"{onnx_path}: not an ONNX model ({type(e).__name__}: {e})") from None
    versions = [o.version for o in model.opset_import if o.domain in ("", "ai.onnx")]
    if not versions:
        raise UnsupportedOpset(f"{onnx_path}: the model declares no ai.onnx opset")
    version = versions[0]
    low, high = SUPPORTED_OPSETS[0], SUPPORTED_OPSETS[-1]
    if version not in SUPPORTED_OPSETS:
        raise UnsupportedOpset(
            f"{onnx_path}: the model uses ai.onnx opset {version}, the build supports opsets {low} to {high} "
            f"(what both onnxruntime and ezkl run); re-export it with opset_version=17 (as the shipped "
            "models: torch.onnx.export(..., opset_version=17)) or convert it with onnx.version_converter.convert_version"
        )
    return version


def calibration_inputs(sampler: Sampler, rng: np.random.Generator, draws: int = 200) -> np.ndarray:
    """Rows spanning the sampler's range: real samples, sampler draws and the extremes."""
    spec, size = sampler.spec, sampler.spec.size
    real = sampler.samples.reshape(len(sampler.samples), size)
    drawn = np.stack([sampler.draw(rng).reshape(size) for _ in range(draws)])
    extremes = np.stack([np.full(size, spec.low), np.full(size, spec.high)])
    corners = rng.choice([spec.low, spec.high], size=(16, size))
    uniform = rng.uniform(spec.low, spec.high, size=(16, size))
    return np.concatenate([real, drawn, extremes, corners, uniform]).astype(np.float32)


def build(folder: Path, srs_dir: Path | None = None, *, logrows: int | None = None,
          scales: list[int] | None = None, max_error: float | None = None,
          srs_origin: str = _manifest.SRS_SELF_GENERATED, generate_srs: bool = False,
          on_stage: Callable[[str], None] | None = None) -> Manifest:
    """Build the circuit in ``folder``; returns the manifest written (steps in the module docstring).

    ``folder`` must be named as its metadata.json names the model, and hold ``model.onnx`` (ai.onnx opset in
    ``SUPPORTED_OPSETS``, UnsupportedOpset otherwise), a ``metadata.json`` that parses (``ModelMetadata``;
    BuildFailed otherwise) and a ``samples.npy`` that fits its input spec (``Sampler``). ``srs_dir`` (default
    ``<folder>/../srs``) holds the SRS files, ``kzg<k>.srs``. ``logrows`` pins the circuit's size (at least what
    calibration needs; default: calibration's choice, at most ``LOGROWS_CAP``). ``scales`` are the candidate
    scales, tried in order (default: metadata.json's ``calibration_scales``; empty: ezkl's choice).
    ``max_error`` is the largest output error allowed against onnxruntime (default: ``REFERENCE_FACTOR`` times
    bare ezkl's); no candidate meeting it raises FidelityMissed. A missing SRS of the chosen size raises
    SrsMissing unless ``generate_srs`` (then it is ``"self-generated"``); ``srs_origin`` is recorded for an
    existing SRS (one of ``_manifest.SRS_ORIGINS``; ``"ceremony"`` with ``generate_srs`` is refused). A proof
    too slow for the timeout rule raises CircuitTooSlow. ``on_stage`` is called with each name in ``STAGES``
    as that stage begins; a build that fails stops calling it. The build works in ``.<name>.build-*`` beside
    ``folder`` and replaces ``folder`` with it only on success, so a failure of any kind leaves ``folder``
    untouched.
    """
    folder = Path(folder).resolve()
    try:
        metadata = ModelMetadata.read(folder / FILES.metadata)
        sampler = Sampler.load(folder / FILES.samples, metadata.input)
    except ModelError as e:
        raise BuildFailed(str(e)) from None
    if metadata.name != folder.name:
        # The registry loads a folder only when its manifest names it (a copied folder is refused there).
        raise BuildFailed(f"{folder / FILES.metadata} names the model {metadata.name!r} but the folder is "
                          f"{folder.name!r}: set \"name\": \"{folder.name}\" in metadata.json (or rename the folder)")
    if scales is None:
        scales = list(metadata.calibration_scales)
    if srs_origin not in _manifest.SRS_ORIGINS:
        raise BuildFailed(f"SRS origin {srs_origin!r} is not one of {', '.join(_manifest.SRS_ORIGINS)}")
    if srs_origin == _manifest.SRS_CEREMONY and generate_srs:
        raise BuildFailed("--gen-srs makes a self-generated SRS, never a ceremony one: drop one of the two")
    if logrows is not None and not 1 <= logrows <= LOGROWS_CAP:
        raise BuildFailed(f"logrows must lie in 1..{LOGROWS_CAP}, got {logrows}")
    if max_error is not None and not max_error > 0:
        raise BuildFailed(f"max_error must be > 0, got {max_error}")
    check_opset(folder / FILES.onnx)
    srs_dir = Path(srs_dir) if srs_dir is not None else folder.parent / "srs"

    work = Path(tempfile.mkdtemp(prefix=f".{folder.name}.build-", dir=folder.parent))
    try:
        shutil.copytree(folder, work, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__"))
        options = _Options(srs_dir=srs_dir.resolve(), logrows=logrows, scales=scales, max_error=max_error,
                           srs_origin=srs_origin, generate_srs=generate_srs)
        manifest = _build_in(work, options, metadata=metadata, sampler=sampler,
                             stage=on_stage or (lambda name: None))
        swap_in(work, folder)
    finally:
        shutil.rmtree(work, ignore_errors=True)  # gone already after a successful swap
    return manifest


@dataclass(frozen=True)
class _Options:
    srs_dir: Path
    logrows: int | None
    scales: list[int]
    max_error: float | None
    srs_origin: str
    generate_srs: bool


def _our_run_args() -> Any:  # ezkl.PyRunArgs
    run_args = ezkl.PyRunArgs()
    # ezkl 23.0.5's stub of PyRunArgs lists only some of the settable attributes; the native
    # class has these (and gen_settings reads them).
    run_args.decomp_base = _DECOMP_BASE  # type: ignore[attr-defined]
    run_args.decomp_legs = _DECOMP_LEGS  # type: ignore[attr-defined]
    run_args.input_visibility = "public"  # type: ignore[attr-defined]
    run_args.output_visibility = "public"  # type: ignore[attr-defined]
    run_args.param_visibility = "fixed"  # type: ignore[attr-defined]
    return run_args


def _reference_run_args() -> Any:  # ezkl.PyRunArgs: ezkl's defaults, but outputs public so a witness shows them
    run_args = ezkl.PyRunArgs()
    run_args.output_visibility = "public"  # type: ignore[attr-defined]
    return run_args


class _Fidelity:
    """The held-out inputs and onnxruntime's outputs for them; measures a compiled circuit's error."""

    def __init__(self, onnx_path: Path, sampler: Sampler, tmp: Path) -> None:
        rows = sampler.samples.reshape(len(sampler.samples), *sampler.spec.shape)[:FIDELITY_ROWS]
        self.rows = [np.asarray(r, dtype=np.float32) for r in rows]
        self.expected = onnx_outputs(onnx_path, self.rows)
        self.tmp = tmp

    def max_error(self, compiled: Path, settings: Path, stage: str) -> float:
        """The largest absolute difference of the circuit's outputs from onnxruntime's over the rows."""
        return max_output_error(compiled, settings, self.rows, self.expected, work=self.tmp, stage=stage)


def _calibrate(onnx_file: Path, settings: Path, data: Path, scales: list[int] | None, max_logrows: int,
               stage: str) -> int:
    """Calibrate ``settings`` in place (target "resources"); the logrows it chose."""
    _ezkl.call(BuildFailed, stage, ezkl.calibrate_settings, str(data), str(onnx_file), str(settings),
               "resources", scales=scales, max_logrows=max_logrows)
    return int(json.loads(settings.read_text())["run_args"]["logrows"])


def _set_logrows(settings: Path, logrows: int) -> None:
    doc = json.loads(settings.read_text())
    doc["run_args"]["logrows"] = logrows
    settings.write_text(json.dumps(doc))


def _build_in(folder: Path, o: _Options, *, metadata: ModelMetadata, sampler: Sampler,
              stage: Callable[[str], None]) -> Manifest:
    """The ezkl steps, writing into ``folder`` (the working copy)."""
    spec = metadata.input
    onnx_file, settings, compiled = (folder / name for name in (FILES.onnx, FILES.settings, FILES.compiled))
    cap = o.logrows or LOGROWS_CAP
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        data = tmp / "calibration.json"
        rows = calibration_inputs(sampler, np.random.default_rng(0))
        data.write_text(json.dumps({"input_data": [[float(v) for v in rows.reshape(-1)]]}))
        stage("gen_settings")
        _ezkl.call(BuildFailed, "gen_settings", ezkl.gen_settings, str(onnx_file), str(settings),
                   py_run_args=_our_run_args())
        fidelity = _Fidelity(onnx_file, sampler, tmp)  # after ezkl read the model: its errors are the precise ones
        base_settings = settings.read_text()

        stage("reference")
        reference = None
        if o.max_error is None:
            ref_settings, ref_compiled = tmp / "ref_settings.json", tmp / "ref.compiled"
            _ezkl.call(BuildFailed, "gen_settings(reference)", ezkl.gen_settings, str(onnx_file), str(ref_settings),
                       py_run_args=_reference_run_args())
            # Over the held-out rows and the extremes only: ezkl's default calibration tries every scale and
            # rebase multiplier it knows, a forward pass per row each (an hour for the GRU over all 594 rows).
            ref_data = tmp / "reference.json"
            ref_rows = np.concatenate([np.stack(fidelity.rows).reshape(len(fidelity.rows), -1),
                                       np.stack([np.full(spec.size, spec.low), np.full(spec.size, spec.high)])])
            ref_data.write_text(json.dumps({"input_data": [[float(v) for v in ref_rows.reshape(-1)]]}))
            ref_k = _calibrate(onnx_file, ref_settings, ref_data, None, LOGROWS_CAP, "calibrate_settings(reference)")
            _ezkl.call(BuildFailed, "compile_circuit(reference)", ezkl.compile_circuit, str(onnx_file),
                       str(ref_compiled), str(ref_settings))
            reference = fidelity.max_error(ref_compiled, ref_settings, "gen_witness(reference)")
            log.info("bare ezkl (default run args): logrows %d, max error %.3g over %d held-out inputs",
                     ref_k, reference, len(fidelity.rows))
        target = o.max_error if o.max_error is not None else REFERENCE_FACTOR * max(reference or 0.0, 1e-9)

        stage("calibrate")
        log.info("calibrating over %d inputs; error target %.3g", len(rows), target)
        tried: list[str] = []
        candidates: list[list[int] | None] = [[c] for c in o.scales] if o.scales else [None]
        for candidate in candidates:
            settings.write_text(base_settings)
            k = _calibrate(onnx_file, settings, data, candidate, cap,
                           "calibrate_settings")
            if o.logrows is not None:
                k = o.logrows  # calibration fitted within it; pin the size asked for
                _set_logrows(settings, k)
            _ezkl.call(BuildFailed, "compile_circuit", ezkl.compile_circuit, str(onnx_file), str(compiled),
                       str(settings))
            error = fidelity.max_error(compiled, settings, "gen_witness(fidelity)")
            scale = json.loads(settings.read_text())["run_args"]["input_scale"]
            log.info("scale %s: logrows %d, max error %.3g (target %.3g)", scale, k, error, target)
            tried.append(f"scale {scale}: error {error:.3g} at logrows {k}")
            if error <= target:
                break
        else:
            raise FidelityMissed(
                f"{metadata.name}: no candidate scale meets the error target {target:.3g} "
                f"({'bare ezkl error ' + format(reference, '.3g') + ' x ' + str(REFERENCE_FACTOR) if reference is not None else '--max-error'}): "
                f"{'; '.join(tried)}; try larger scales (--scales, or calibration_scales in metadata.json) "
                "or a looser target (--max-error)")

        stage("srs")
        srs_path = srs_file(o.srs_dir, k)
        origin = o.srs_origin
        if not srs_path.exists():
            if not o.generate_srs:
                raise SrsMissing(
                    f"{metadata.name} needs logrows {k} and there is no SRS at {srs_path}: put the public ceremony "
                    f"SRS of that size there (docs/custom_circuit_integration.md, 'SRS files') and pass --srs-origin "
                    f"ceremony, or pass --gen-srs to generate one (LOCAL/TEST USE ONLY: whoever generates an SRS can "
                    "forge proofs)")
            log.warning("no SRS at %s: generating one at logrows %d (--gen-srs). LOCAL/TEST USE ONLY: whoever "
                        "generates an SRS can forge proofs; a public network uses the public ceremony SRS",
                        srs_path, k)
            srs_path.parent.mkdir(parents=True, exist_ok=True)
            _ezkl.call(BuildFailed, "gen_srs", ezkl.gen_srs, str(srs_path), k)
            origin = _manifest.SRS_SELF_GENERATED
        elif _ezkl.srs_logrows(srs_path) != k:
            raise BuildFailed(f"{srs_path} holds an SRS of logrows {_ezkl.srs_logrows(srs_path)}, not {k}: "
                              f"each size has its own file, kzg<k>.srs")

        stage("setup")
        t0 = time.perf_counter()
        vk, pk = folder / FILES.vk, tmp / "pk.key"
        _ezkl.call(BuildFailed, "setup", ezkl.setup, str(compiled), str(vk), str(pk), srs_path=str(srs_path))
        log.info("setup in %.1fs (proving key %.0f MB)", time.perf_counter() - t0, pk.stat().st_size / 1e6)

        stage("measure")
        # The extremes first (they also warm the caches the timed proofs then share with a miner's).
        proof_bytes = 0
        for label, values in (("low", np.full(spec.shape, spec.low)), ("high", np.full(spec.shape, spec.high))):
            proof_bytes = _prove_and_verify(tmp, label, values, compiled, pk, vk, settings, srs_path)
        walls: list[float] = []
        cpus: list[float] = []
        for i, values in enumerate(fidelity.rows[:PROVE_RUNS]):
            w0, c0 = time.perf_counter(), time.process_time()
            _prove(tmp, f"held-out {i}", values, compiled, pk, vk, srs_path)
            walls.append(time.perf_counter() - w0)
            cpus.append(time.process_time() - c0)
            _verify(tmp, f"held-out {i}", settings, vk, srs_path)
        measured = Measurement(prove_s=max(statistics.median(walls), 1e-3),
                               prove_cpu_s=max(statistics.median(cpus), 1e-3), cores=os.cpu_count() or 1,
                               max_error=error, reference_error=reference, max_error_target=target)
        log.info("proof in %.2fs, %.2f CPU-s (median of %d); timeout %.0fs by the rule of execution_layer.timeouts",
                 measured.prove_s, measured.prove_cpu_s, len(walls), timeouts.timeout_for(measured))
        if (why := timeouts.too_slow(measured)) is not None:
            raise CircuitTooSlow(f"{metadata.name}: {why}")

    stage("manifest")
    manifest = Manifest.pin(folder, name=metadata.name, ezkl_version=ezkl_version(), srs_path=srs_path,
                            logrows=k, srs_origin=origin, proof_bytes=proof_bytes, measured=measured)
    manifest.write(folder / _manifest.MANIFEST)
    return manifest


def _prove_and_verify(tmp: Path, label: str, values: np.ndarray, compiled: Path, pk: Path, vk: Path,
                      settings: Path, srs_path: Path) -> int:
    """Witness, prove and verify ``values`` as a miner and a validator would; the proof's length in bytes."""
    _prove(tmp, label, values, compiled, pk, vk, srs_path)
    _verify(tmp, label, settings, vk, srs_path)
    return len(json.loads((tmp / "proof.json").read_text())["proof"])


def _prove(tmp: Path, label: str, values: np.ndarray, compiled: Path, pk: Path, vk: Path, srs_path: Path) -> None:
    """Witness and proof of ``values`` into ``tmp/proof.json``, as the miner's prover makes them."""
    _ezkl.write_input(tmp / "in.json", values)
    _ezkl.call(BuildFailed, f"gen_witness({label})", ezkl.gen_witness, str(tmp / "in.json"), str(compiled),
               str(tmp / "w.json"), vk_path=str(vk), srs_path=str(srs_path))
    _ezkl.call(BuildFailed, f"prove({label})", ezkl.prove, str(tmp / "w.json"), str(compiled), str(pk),
               str(tmp / "proof.json"), srs_path=str(srs_path))


def _verify(tmp: Path, label: str, settings: Path, vk: Path, srs_path: Path) -> None:
    _ezkl.call(BuildFailed, f"verify({label})", ezkl.verify, str(tmp / "proof.json"), str(settings), str(vk),
               srs_path=str(srs_path))


def _build_with_progress(folder: Path, **options: Any) -> Manifest:
    """``build`` with a step-per-stage bar on a terminal (log lines routed above it); plain logs otherwise."""
    with tqdm(total=len(STAGES), desc=Path(folder).name, unit="step", disable=None) as bar:
        if bar.disable:
            return build(folder, **options)
        begun: list[str] = []

        def on_stage(name: str) -> None:
            if begun:
                bar.update(1)  # the previous stage is done
            begun.append(name)
            bar.set_postfix_str(name)

        with logging_redirect_tqdm():
            manifest = build(folder, on_stage=on_stage, **options)
        bar.update(1)
        bar.set_postfix_str("done")
        return manifest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m execution_layer.build",
        description="Build a model's circuit artifacts (for model authors): calibrate at the circuit's natural "
        "size, check its outputs against onnxruntime, measure its proving time, pin everything in manifest.json.")
    parser.add_argument("folder", type=Path, help="the model folder, e.g. models/digits_cnn")
    parser.add_argument("--srs-dir", dest="srs_dir", type=Path, default=None,
                        help="folder of the SRS files, one per size, kzg<logrows>.srs (default: srs/ beside the "
                        "model folder); the one of the size calibration chooses must exist unless --gen-srs")
    parser.add_argument("--gen-srs", dest="gen_srs", action="store_true",
                        help="generate the SRS of the chosen size if it is missing: LOCAL/TEST USE ONLY, whoever "
                        "generates an SRS can forge proofs")
    parser.add_argument("--srs-origin", dest="srs_origin", choices=_manifest.SRS_ORIGINS,
                        default=_manifest.SRS_SELF_GENERATED,
                        help="where an existing SRS file comes from, recorded in the manifest: 'ceremony' for the "
                        "public ceremony SRS (required for finney/test), else 'self-generated' (a generated "
                        "SRS is always self-generated)")
    parser.add_argument("--logrows", type=int, default=None,
                        help=f"pin the circuit's size (default: the smallest calibration finds, at most {LOGROWS_CAP})")
    parser.add_argument("--scales", default=None,
                        help="comma-separated candidate scales, tried in order until one meets the error target "
                        "(default: metadata.json's calibration_scales; empty there: ezkl's choice)")
    parser.add_argument("--max-error", dest="max_error", type=float, default=None,
                        help="largest output error allowed against onnxruntime over the held-out samples "
                        f"(default: {REFERENCE_FACTOR} x the error of bare ezkl, measured first, on the same model)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    _ezkl.quiet_native_logs()
    try:
        scales = [int(s) for s in args.scales.split(",")] if args.scales else None
        manifest = _build_with_progress(args.folder, srs_dir=args.srs_dir, logrows=args.logrows, scales=scales,
                                        max_error=args.max_error, srs_origin=args.srs_origin,
                                        generate_srs=args.gen_srs)
    except (ExecutionError, OSError, ValueError, KeyError) as e:
        print(f"build failed: {e}", file=sys.stderr)
        return 1
    m = manifest.measured
    print(f"{manifest.name}: circuit {manifest.circuit_id} at logrows {manifest.srs.logrows} (SRS {manifest.srs.file}: "
          f"{manifest.srs.origin}); proof {m.prove_s:.2f}s ({m.prove_cpu_s:.2f} CPU-s), timeout {timeouts.timeout_for(m):.0f}s; max error "
          f"{m.max_error:.3g} (target {m.max_error_target:.3g})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
