"""Build a model's circuit artifacts: ``python -m execution_layer.build models/<name>``.

For model authors only; users never rebuild (compiled circuits are not
byte-reproducible and ``settings.json`` carries a timestamp, so the artifacts
are built once and committed).

Atomic: the build works in a copy of the folder next to it
(``.<name>.build-*``, which the registry skips) and swaps it in only when
every step succeeded; a failed build leaves the folder as it was.

Refused before ezkl runs: a metadata.json or samples.npy that does not parse;
a model whose ai.onnx opset lies outside ``SUPPORTED_OPSETS`` (``UnsupportedOpset``);
an SRS that does not exist (``SrsMissing``), unless ``--gen-srs`` asks to
generate one. ezkl's own failures an author can act on are precise leaves of
``BuildFailed`` (``UnsupportedOp`` naming the op and the node,
``CalibrationFailed`` saying what to try; see ``execution_layer._ezkl``).

Steps, in order:

1. gen_settings with decomp_base=512, decomp_legs=4 (set before calibration:
   ezkl's defaults force logrows >= 15), inputs and outputs public, params fixed;
2. calibrate over data spanning the sampler's whole range: the held-out
   samples, sampler draws, all-low, all-high, random corners and uniform draws
   (ezkl's lookups only cover the calibrated range);
3. pin logrows to the SRS's k (ezkl re-derives a smaller SRS on every call
   otherwise, costing seconds per proof and per verification) and compile;
4. create the SRS if missing and ``--gen-srs`` was given (LOCAL/TEST ONLY:
   whoever generates an SRS can forge proofs), setup to derive vk.key, prove and verify the all-low and
   all-high inputs (recording the proof length);
5. write manifest.json pinning every file by sha256, the SRS and the ezkl version,
   and recording the SRS's origin: ``"self-generated"`` when this build generated
   it, else what ``--srs-origin`` states (``"ceremony"`` for the public ceremony
   SRS; an SRS not declared so counts as self-generated). The daemons refuse to
   run self-generated circuits on public networks.

The command shows a tqdm bar with one step per stage (``STAGES``) when stderr
is a terminal, with log lines printed above it; otherwise only the log lines.
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import ezkl
import numpy as np
import onnx
from tqdm import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

from execution_layer import _ezkl, _manifest
from execution_layer._manifest import FILES, Manifest
from execution_layer.circuit import ezkl_version
from execution_layer.types import BuildFailed, ExecutionError, SrsMissing, UnsupportedOpset
from models.metadata import ModelError, ModelMetadata
from models.sampling import Sampler

__all__ = ["STAGES", "SUPPORTED_OPSETS", "build", "check_opset", "calibration_inputs", "main"]

log = logging.getLogger(__name__)

_DECOMP_BASE = 512
_DECOMP_LEGS = 4
_DEFAULT_LOGROWS = 11
STAGES = ("gen_settings", "calibrate", "compile", "setup", "manifest")  # reported to ``on_stage``, in order
# The ai.onnx opsets a model may use, both ends included: what both runtimes run. onnxruntime (the
# validator's fidelity check, the demo) has no kernels below opset 7 (e.g. "Could not find an
# implementation for Gemm(6)"); ezkl 23.0.5 reads ONNX with tract, which is "only tested against
# operator set 9 to 18" (its own warning). The intersection is 9..18; the shipped models use 17.
SUPPORTED_OPSETS = range(9, 19)


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


def build(folder: Path, srs_path: Path, *, logrows: int = _DEFAULT_LOGROWS, scales: list[int] | None = None,
          srs_origin: str = _manifest.SRS_SELF_GENERATED, generate_srs: bool = False,
          on_stage: Callable[[str], None] | None = None) -> Manifest:
    """Build the circuit in ``folder`` against ``srs_path``; returns the manifest written.

    ``folder`` must be named as its metadata.json names the model, and hold ``model.onnx`` (ai.onnx opset in ``SUPPORTED_OPSETS``,
    UnsupportedOpset otherwise), a ``metadata.json`` that parses
    (``ModelMetadata``; BuildFailed otherwise) and a ``samples.npy`` that fits
    its input spec (``Sampler``). ``scales`` defaults to metadata.json's
    ``calibration_scales`` (when empty, ezkl's own choice). A missing
    ``srs_path`` raises SrsMissing unless ``generate_srs``, which generates one
    there at ``logrows`` (always ``"self-generated"``); ``logrows`` is used only
    then. ``srs_origin`` is recorded in the manifest for an existing SRS (one of
    ``_manifest.SRS_ORIGINS``); asking for ``"ceremony"`` when ``srs_path`` does
    not exist raises BuildFailed. ``on_stage`` is called with each name in
    ``STAGES`` as that stage begins ("setup" covers the test proofs too); a build
    that fails stops calling it. All checks run before ezkl does; the build then
    works in ``.<name>.build-*`` beside ``folder`` and replaces ``folder`` with it
    only on success, so a failure of any kind leaves ``folder`` untouched.
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
        scales = list(metadata.calibration_scales) or None
    if srs_origin not in _manifest.SRS_ORIGINS:
        raise BuildFailed(f"SRS origin {srs_origin!r} is not one of {', '.join(_manifest.SRS_ORIGINS)}")
    check_opset(folder / FILES.onnx)
    srs_path = Path(srs_path)
    if not srs_path.exists():
        if srs_origin == _manifest.SRS_CEREMONY:
            raise BuildFailed(f"no SRS at {srs_path}: put the public ceremony SRS there first (a generated "
                              "one is never a ceremony SRS)")
        if not generate_srs:
            raise SrsMissing(
                f"no SRS at {srs_path}: fetch the public ceremony SRS of the size you need to that path "
                "(docs/custom_circuit_integration.md) and pass --srs-origin ceremony, or pass --gen-srs to "
                f"generate one there at --logrows {logrows} (LOCAL/TEST USE ONLY: whoever generates an SRS can "
                "forge proofs)"
            )
        log.warning("no SRS at %s: generating one at logrows %d (--gen-srs). LOCAL/TEST USE ONLY: whoever "
                    "generates an SRS can forge proofs; a public network uses the public ceremony SRS",
                    srs_path, logrows)
        srs_path.parent.mkdir(parents=True, exist_ok=True)
        _ezkl.call(BuildFailed, "gen_srs", ezkl.gen_srs, str(srs_path), logrows)
    k = _ezkl.srs_logrows(srs_path)

    work = Path(tempfile.mkdtemp(prefix=f".{folder.name}.build-", dir=folder.parent))
    try:
        shutil.copytree(folder, work, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__"))
        manifest = _build_in(work, srs_path, k, metadata=metadata, sampler=sampler, scales=scales,
                             srs_origin=srs_origin, stage=on_stage or (lambda name: None))
        _swap_in(work, folder)
    finally:
        shutil.rmtree(work, ignore_errors=True)  # gone already after a successful swap
    return manifest


def _swap_in(work: Path, folder: Path) -> None:
    """Replace ``folder`` by ``work`` (same parent): two renames, putting ``folder`` back if the second fails."""
    old = folder.parent / f".{folder.name}.old-{work.name.rsplit('-', 1)[-1]}"
    folder.rename(old)
    try:
        work.rename(folder)
    except BaseException:
        old.rename(folder)
        raise
    shutil.rmtree(old, ignore_errors=True)


def _build_in(folder: Path, srs_path: Path, k: int, *, metadata: ModelMetadata, sampler: Sampler,
              scales: list[int] | None, srs_origin: str, stage: Callable[[str], None]) -> Manifest:
    """The ezkl steps, writing into ``folder`` (the working copy), on an SRS of ``k`` logrows."""
    spec = metadata.input
    onnx_file, settings, compiled = (str(folder / name) for name in (FILES.onnx, FILES.settings, FILES.compiled))
    run_args = ezkl.PyRunArgs()
    # ezkl 23.0.5's stub of PyRunArgs lists only some of the settable attributes; the native
    # class has these (and gen_settings reads them).
    run_args.decomp_base = _DECOMP_BASE  # type: ignore[attr-defined]
    run_args.decomp_legs = _DECOMP_LEGS  # type: ignore[attr-defined]
    run_args.input_visibility = "public"  # type: ignore[attr-defined]
    run_args.output_visibility = "public"  # type: ignore[attr-defined]
    run_args.param_visibility = "fixed"  # type: ignore[attr-defined]
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        stage("gen_settings")
        _ezkl.call(BuildFailed, "gen_settings", ezkl.gen_settings, onnx_file, settings, py_run_args=run_args)
        data = tmp / "calibration.json"
        rows = calibration_inputs(sampler, np.random.default_rng(0))
        data.write_text(json.dumps({"input_data": [[float(v) for v in rows.reshape(-1)]]}))
        stage("calibrate")
        log.info("calibrating over %d inputs", len(rows))
        _ezkl.call(BuildFailed, "calibrate_settings", ezkl.calibrate_settings, str(data), onnx_file, settings,
                   "resources", scales=scales, max_logrows=k)
        doc = json.loads(Path(settings).read_text())
        needed = doc["run_args"]["logrows"]
        if needed > k:
            raise BuildFailed(f"{metadata.name} needs logrows {needed} but the SRS has {k}; "
                              "rebuild every circuit against a larger SRS")
        doc["run_args"]["logrows"] = k
        Path(settings).write_text(json.dumps(doc))
        stage("compile")
        _ezkl.call(BuildFailed, "compile_circuit", ezkl.compile_circuit, onnx_file, compiled, settings)

        stage("setup")
        t0 = time.perf_counter()
        _ezkl.call(BuildFailed, "setup", ezkl.setup, compiled, str(folder / FILES.vk), str(tmp / "pk.key"),
                   srs_path=str(srs_path))
        log.info("setup in %.1fs", time.perf_counter() - t0)
        vk = str(folder / FILES.vk)
        for label, values in (("low", np.full(spec.shape, spec.low)), ("high", np.full(spec.shape, spec.high))):
            _ezkl.write_input(tmp / "in.json", values)
            _ezkl.call(BuildFailed, f"gen_witness({label})", ezkl.gen_witness, str(tmp / "in.json"), compiled,
                       str(tmp / "w.json"), vk_path=vk, srs_path=str(srs_path))
            _ezkl.call(BuildFailed, f"prove({label})", ezkl.prove, str(tmp / "w.json"), compiled,
                       str(tmp / "pk.key"), str(tmp / "proof.json"), srs_path=str(srs_path))
            _ezkl.call(BuildFailed, f"verify({label})", ezkl.verify, str(tmp / "proof.json"), settings, vk,
                       srs_path=str(srs_path))
        proof_bytes = len(json.loads((tmp / "proof.json").read_text())["proof"])

    stage("manifest")
    manifest = Manifest.pin(folder, name=metadata.name, ezkl_version=ezkl_version(), srs_path=srs_path,
                            logrows=k, srs_origin=srs_origin, proof_bytes=proof_bytes)
    manifest.write(folder / _manifest.MANIFEST)
    return manifest


def _build_with_progress(folder: Path, srs: Path, **options: Any) -> Manifest:
    """``build`` with a step-per-stage bar on a terminal (log lines routed above it); plain logs otherwise."""
    with tqdm(total=len(STAGES), desc=Path(folder).name, unit="step", disable=None) as bar:
        if bar.disable:
            return build(folder, srs, **options)
        begun: list[str] = []

        def on_stage(name: str) -> None:
            if begun:
                bar.update(1)  # the previous stage is done
            begun.append(name)
            bar.set_postfix_str(name)

        with logging_redirect_tqdm():
            manifest = build(folder, srs, on_stage=on_stage, **options)
        bar.update(1)
        bar.set_postfix_str("done")
        return manifest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m execution_layer.build", description="Build a model's circuit artifacts (for model authors).")
    parser.add_argument("folder", type=Path, help="the model folder, e.g. models/digits_cnn")
    parser.add_argument("--srs", type=Path, default=None,
                        help="KZG SRS (default: <models>/srs/kzg<logrows>.srs); a missing one is refused unless "
                        "--gen-srs")
    parser.add_argument("--gen-srs", dest="gen_srs", action="store_true",
                        help="generate the SRS at --srs (or the default path) at --logrows if it is missing: "
                        "LOCAL/TEST USE ONLY, whoever generates an SRS can forge proofs")
    parser.add_argument("--srs-origin", dest="srs_origin", choices=_manifest.SRS_ORIGINS,
                        default=_manifest.SRS_SELF_GENERATED,
                        help="where an existing --srs comes from, recorded in the manifest: 'ceremony' for the "
                        "public ceremony SRS (required for finney/test), else 'self-generated' (a generated "
                        "SRS is always self-generated)")
    parser.add_argument("--logrows", type=int, default=_DEFAULT_LOGROWS,
                        help="k of the SRS --gen-srs generates, and of the default --srs path")
    parser.add_argument("--scales", default=None,
                        help="comma-separated scales calibration may try (default: metadata.json's calibration_scales)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    _ezkl.quiet_native_logs()
    srs = args.srs or args.folder.resolve().parent / "srs" / f"kzg{args.logrows}.srs"
    try:
        scales = [int(s) for s in args.scales.split(",")] if args.scales else None
        manifest = _build_with_progress(args.folder, srs, logrows=args.logrows, scales=scales,
                                        srs_origin=args.srs_origin, generate_srs=args.gen_srs)
    except (ExecutionError, OSError, ValueError, KeyError) as e:
        print(f"build failed: {e}", file=sys.stderr)
        return 1
    print(f"{manifest.name}: circuit {manifest.circuit_id} (SRS: {manifest.srs.origin})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
