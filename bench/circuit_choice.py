"""The performance report's circuits part: ezkl's default run args against the build's choice; keys and memory.

``run(options) -> Section`` (``python -m bench.performance --only circuits``) measures, per
shipped circuit:

1. **Two rows, measured the same way** (``bench.circuit_sweep``): "ezkl defaults" is
   ``sweep_row`` with its ``DEFAULTS`` row (a bare ``PyRunArgs``, ezkl's own calibration,
   the project's visibility); "chosen" is ``measure_settings`` on the shipped
   ``settings.json`` as the build calibrated and pinned it, set up on the shipped SRS.
   Both then take the same steps: compile, setup, prove (median), verify, and the max
   abs error against onnxruntime over the same first held-out samples. The chosen row's
   vk is compared with the shipped vk.key (a difference is noted).
2. **Keys and memory**, as an operator sizes a miner: the proving key derived into a
   fresh cache in a child process (``execution_layer.ensure_keys``: its time, the child's
   wall time and peak RSS), then one proof in another child (``make_prover`` as a miner's
   worker builds it: its time and peak RSS), the key's size on disk; and a baseline child
   that only imports ezkl and loads the registry.

What the full run reduces to fit in 12 minutes on 2 cores (``FULL``), and ``QUICK`` (a
smoke run: wine_mlp only, a defaults row capped at logrows 12), are ``Budget`` values;
the body says what was reduced. Nothing is asserted: a missed target is a row saying so.
MB are 10^6 bytes throughout, as docs/hardware.md counts.

The children are this module's CLI (``python -m bench.circuit_choice derive|prove|load``; see ``--help``),
run by ``run``; each prints one JSON line of what it measured inside itself.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench.children import ChildRun, run_child
from bench.circuit_sweep import DEFAULTS, RowResult, SweepModel, measure_settings, sweep_row
from bench.report import PartOptions, Section, Target, markdown_table
from execution_layer import Circuit, CircuitRegistry, EzklProver, ensure_keys, quiet_native_logs
from execution_layer.build import FIDELITY_ROWS, LOGROWS_CAP
from models.sampling import Sampler

__all__ = ["TITLE", "Budget", "FULL", "QUICK", "MINER_MEMORY_MB", "run", "main"]

TITLE = "Circuits: ezkl defaults against the build's choice, keys and memory"
REPO = Path(__file__).resolve().parent.parent
# docs/hardware.md's summary asks a miner for "512 MB free" (measured with the light circuits).
MINER_MEMORY_MB = 512.0


@dataclass(frozen=True)
class Budget:
    """How much each measurement does.

    ``error_samples``: the first N held-out samples the error is measured over (both rows);
    ``prove_runs``: proofs per row (the median is shown); ``calibration_samples``: the
    defaults row calibrates over the first N held-out samples and the input range's two
    extremes, as the build's own bare-ezkl reference does with its 32, not over the rows
    the build calibrates the chosen circuit with (every held-out sample, 200 sampler draws,
    the extremes, 32 corner and uniform rows): ezkl's defaults try every scale and rebase
    multiplier they know, a forward pass per row each (the build's note: an hour for the
    GRU over all its rows); ``max_logrows``:
    the cap on the defaults row's logrows; ``default_circuits``: the circuits measured when
    ``PartOptions.circuits`` is None (None: every shipped one).
    """

    error_samples: int = FIDELITY_ROWS
    prove_runs: int = 3
    calibration_samples: int = FIDELITY_ROWS
    max_logrows: int = LOGROWS_CAP
    default_circuits: tuple[str, ...] | None = None


FULL = Budget()
QUICK = Budget(error_samples=2, prove_runs=1, calibration_samples=1, max_logrows=12,
               default_circuits=("wine_mlp",))


@dataclass(frozen=True)
class _Choice:
    """One circuit's two rows, and whether the chosen row rebuilt the shipped circuit (its vk)."""

    circuit: Circuit
    defaults: RowResult
    chosen: RowResult
    identical: bool
    calibration_rows: int  # the defaults row's calibration data
    build_rows: int  # the build's calibration data for the chosen circuit
    seconds: float


@dataclass(frozen=True)
class _Memory:
    """One circuit's key derivation and proof, each in a child process."""

    circuit: Circuit
    setup_s: float
    derive: ChildRun
    prove_s: float
    prove: ChildRun
    pk_bytes: int


def _print(line: str) -> None:
    print(f"   {line}", flush=True)


def run(options: PartOptions, *, models_dir: Path | None = None, budget: Budget | None = None,
        progress: Callable[[str], None] = _print) -> Section:
    """Measure the circuits ``options.circuits`` names (else ``budget.default_circuits``, else every shipped one).

    ``models_dir`` is the folder of model folders (default: the repository's models/);
    ``budget`` defaults to ``QUICK`` when ``options.quick``, else ``FULL``. Scratch files go
    under ``options.work``: each row's keys and the children's key caches are removed as
    each is done; the defaults rows' SRS folder (the shipped SRS files linked, other sizes
    generated there) stays for the caller to remove. ``options.key_cache`` is not used:
    every key here is derived afresh, as that is what is measured. Raises the
    registry's errors (CircuitNotFound, CircuitUnavailable) for a circuit that does not load.
    ``progress`` gets a line as each row and child is done (the full run takes minutes).
    """
    budget = budget or (QUICK if options.quick else FULL)
    models_dir = Path(models_dir) if models_dir is not None else REPO / "models"
    registry = CircuitRegistry.load(models_dir)
    names = options.circuits or budget.default_circuits
    circuits = [registry.by_name(n) for n in names] if names else list(registry)
    work = Path(options.work)
    work.mkdir(parents=True, exist_ok=True)
    srs_dir = work / "srs"  # the defaults rows' SRS files: the shipped ones linked, other sizes generated once
    srs_dir.mkdir(exist_ok=True)
    for shipped in sorted((models_dir / "srs").glob("kzg*.srs")):
        if not (srs_dir / shipped.name).exists():
            (srs_dir / shipped.name).symlink_to(shipped.resolve())

    choices = [_choose(c, budget, work=work, srs_dir=srs_dir, progress=progress) for c in circuits]
    baseline = _child("load", None, models_dir=models_dir, key_cache=None)
    memories = []
    for circuit in circuits:
        memories.append(memory := _memory(circuit, models_dir=models_dir, work=work))
        progress(f"{circuit.name}: key derived in {memory.setup_s:.1f} s (peak {memory.derive.peak_rss_mb:.0f} MB), "
                 f"one proof in {memory.prove_s:.2f} s (peak {memory.prove.peak_rss_mb:.0f} MB)")
    return _section(choices, memories, baseline, budget)


def _done(name: str, r: RowResult) -> str:
    if r.failure is not None:
        return f"{name}, {r.row.label}: {r.failure}"
    return (f"{name}, {r.row.label}: logrows {r.logrows}, setup {r.setup_s or 0:.1f} s, prove {r.prove_s or 0:.2f} s, "
            f"error {r.max_abs_error or 0:.2e}")


def _choose(circuit: Circuit, budget: Budget, *, work: Path, srs_dir: Path,
            progress: Callable[[str], None]) -> _Choice:
    started = time.perf_counter()
    model = SweepModel.read(circuit.directory)
    build_rows = len(model.calibration)  # calibration_inputs, as the build made the chosen circuit's
    spec = model.metadata.input
    real = model.sampler.samples.reshape(len(model.sampler.samples), spec.size)[:budget.calibration_samples]
    extremes = np.stack([np.full(spec.size, spec.low), np.full(spec.size, spec.high)])
    model = dataclasses.replace(model, calibration=np.concatenate([real, extremes]).astype(np.float32))
    with tempfile.TemporaryDirectory(prefix=f"{circuit.name}-defaults-", dir=work) as tmp:
        defaults = sweep_row(model, DEFAULTS, work=Path(tmp), srs_dir=srs_dir, samples=budget.error_samples,
                             prove_runs=budget.prove_runs, max_logrows=budget.max_logrows)
    progress(_done(circuit.name, defaults))
    with tempfile.TemporaryDirectory(prefix=f"{circuit.name}-chosen-", dir=work) as tmp:
        chosen = measure_settings(model, circuit.settings_path, label="chosen", work=Path(tmp),
                                  srs_dir=circuit.srs_path.parent, samples=budget.error_samples, prove_runs=budget.prove_runs)
        # The vk, not model.compiled: ezkl's compiled bytes differ from one compile to the next (measured),
        # while the vk derived from them is the circuit's identity (the manifest pins it).
        identical = chosen.failure is None and (Path(tmp) / "vk.key").read_bytes() == circuit.vk_path.read_bytes()
    progress(_done(circuit.name, chosen))
    return _Choice(circuit, defaults, chosen, identical, len(model.calibration), build_rows,
                   time.perf_counter() - started)


def _child(mode: str, name: str | None, *, models_dir: Path, key_cache: Path | None) -> ChildRun:
    argv = [sys.executable, "-m", "bench.circuit_choice", mode, *([name] if name else []),
            "--models", str(models_dir), *(["--key-cache", str(key_cache)] if key_cache else [])]
    return run_child(argv, cwd=REPO)


def _reported(child: ChildRun) -> dict[str, float]:
    """The JSON line a child printed last (ezkl's native code may print before it)."""
    values: dict[str, float] = json.loads(child.stdout.strip().splitlines()[-1])
    return values


def _memory(circuit: Circuit, *, models_dir: Path, work: Path) -> _Memory:
    cache = Path(tempfile.mkdtemp(prefix=f"{circuit.name}-keys-", dir=work))
    try:
        derive = _child("derive", circuit.name, models_dir=models_dir, key_cache=cache)
        prove = _child("prove", circuit.name, models_dir=models_dir, key_cache=cache)
        pk_bytes = int(_reported(derive)["pk_bytes"])
        return _Memory(circuit, setup_s=_reported(derive)["setup_s"], derive=derive,
                       prove_s=_reported(prove)["prove_s"], prove=prove, pk_bytes=pk_bytes)
    finally:
        shutil.rmtree(cache, ignore_errors=True)


def _fmt(value: float | int | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def _row_cells(name: str, r: RowResult, note: str) -> list[str]:
    scales = "-" if r.input_scale is None else f"{r.input_scale} / {r.param_scale}"
    decomp = "-" if r.decomp_base is None else f"{r.decomp_base}x{r.decomp_legs}"
    return [name, r.row.label, _fmt(r.logrows, "d"), scales, decomp, _fmt(r.calibrate_s, ".1f"),
            _fmt(r.setup_s, ".1f"), _fmt(r.prove_s, ".2f"), _fmt(r.pk_mb, ".1f"), _fmt(r.proof_bytes, "d"),
            _fmt(r.max_abs_error, ".2e"), (r.failure or note).replace("|", "/")]


def _chosen_note(choice: _Choice) -> str:
    m = choice.circuit.measured
    rebuilt = ("recompiled: the shipped circuit (same vk)" if choice.identical
               else "**recompiled, its vk differs from the shipped vk.key**")
    return f"{rebuilt}; manifest: error {m.max_error:.2e} over {FIDELITY_ROWS}, prove {m.prove_s:.2f} s"


def _times(a: float, b: float, more: str, less: str) -> str:
    """``a`` against ``b`` in words: "6.5× <more>", "1.6× <less>" or "about the same" within 10%."""
    ratio = a / b
    return "about the same" if 1 / 1.1 <= ratio <= 1.1 else f"{ratio:.1f}× {more}" if ratio > 1 else f"{1 / ratio:.1f}× {less}"


def _buys(choice: _Choice) -> str:
    """One line: what the chosen run args buy against ezkl's defaults, from the two rows as measured."""
    d, c, name = choice.defaults, choice.chosen, choice.circuit.name
    failed = [f"{r.row.label} row: {r.failure}" for r in (d, c) if r.failure or r.prove_s is None]
    if failed:
        return f"- **{name}**: no comparison ({'; '.join(failed)})"
    assert d.logrows is not None and c.logrows is not None and d.prove_s and c.prove_s and d.pk_bytes and c.pk_bytes \
        and d.max_abs_error is not None and c.max_abs_error is not None  # set on every row without a failure
    steps = d.logrows - c.logrows
    rows = (f"2^{steps} fewer rows ({d.logrows} → {c.logrows})" if steps > 0 else
            f"the same rows (logrows {c.logrows})" if steps == 0 else f"2^{-steps} more rows ({d.logrows} → {c.logrows})")
    error = ("equal error" if d.max_abs_error == c.max_abs_error else
             f"error {c.max_abs_error / d.max_abs_error:.2f}× the defaults'" if d.max_abs_error else "error: defaults exact")
    return (f"- **{name}**: {rows}, proofs {_times(d.prove_s, c.prove_s, 'faster', 'slower')} "
            f"({d.prove_s:.2f} s → {c.prove_s:.2f} s), proving key {_times(d.pk_bytes, c.pk_bytes, 'smaller', 'larger')} "
            f"({d.pk_mb:.0f} → {c.pk_mb:.0f} MB), {error} ({d.max_abs_error:.2e} → {c.max_abs_error:.2e}).")


def _findings(choices: Sequence[_Choice]) -> str:
    """What the table means: why the light circuits shrink and where the choice cannot shrink a circuit."""
    same = [c.circuit.name for c in choices if c.defaults.logrows is not None and c.defaults.logrows == c.chosen.logrows]
    lines = ["ezkl's default range checks (`decomp_base` 16384 × 2 legs) are a 16,384-entry lookup table, which "
             "calibration for \"resources\" lays out at logrows 15 when uncapped (capped lower, it spreads the table "
             "over more columns, and proofs slow down); the build's 512 × 4 is a 512-entry table, so a small "
             "circuit's size follows its own work instead. Rows are what proofs and keys cost: halving them "
             "about halves both."]
    if same:
        lines.append(f"Where both rows have the same logrows ({', '.join(same)}), the model's own work sets the size "
                     "and the choice is only the scale and the range-check layout: there it buys error (or nothing), "
                     "not speed; proof times within about 10 % of each other are the machine's noise.")
    return " ".join(lines) + "\n"


def _section(choices: Sequence[_Choice], memories: Sequence[_Memory], baseline: ChildRun, budget: Budget) -> Section:
    header = ["circuit", "run args", "logrows", "input / param scale", "decomp", "calibrate s", "setup s", "prove s",
              "proving key MB", "proof bytes", "max abs error", "note"]
    rows = []
    for choice in choices:
        reference = choice.circuit.measured.reference_error
        rows.append(_row_cells(choice.circuit.name, choice.defaults, "" if reference is None else
                               f"the build's bare-ezkl reference (manifest): error {reference:.2e}"))
        rows.append(_row_cells(choice.circuit.name, choice.chosen, _chosen_note(choice)))
    calibration = sorted({c.calibration_rows for c in choices})
    build = sorted({c.build_rows for c in choices})
    cap_note = " (the build's cap)" if budget.max_logrows == LOGROWS_CAP else ""
    rows_note = " (the build's fidelity rows)" if budget.error_samples == FIDELITY_ROWS else ""
    reduced = (f"Reduced to fit the budget: the defaults rows calibrate over {'/'.join(map(str, calibration))} rows "
               f"(the first {budget.calibration_samples} held-out samples and the input range's two extremes, as the "
               f"build's own bare-ezkl reference does), where the build calibrated each chosen circuit over "
               f"{'/'.join(map(str, build))} (every held-out sample, 200 sampler draws, the extremes, 32 corner and "
               f"uniform rows): ezkl's defaults try every scale and rebase multiplier they know, a forward pass per "
               f"row each. Logrows capped at {budget.max_logrows}"
               f"{cap_note}; both rows' errors over the first "
               f"{budget.error_samples} held-out samples"
               f"{rows_note}; prove s the median of "
               f"{budget.prove_runs} proof(s) of one held-out sample.")
    body = [
        "Per shipped circuit, two rows measured by the same code (`bench.circuit_sweep`): **ezkl defaults** "
        "(a bare `PyRunArgs` with the project's visibility, then ezkl's own `calibrate_settings(..., \"resources\")`) "
        "and **chosen** (the shipped `settings.json` as the build calibrated and pinned it, on the shipped SRS). "
        "Each is compiled, set up, proved, verified, and its outputs compared with onnxruntime's on the same "
        "held-out samples (`execution_layer.output_error`, as the build measures fidelity). "
        "The choice is shown, not asserted.\n",
        markdown_table(header, rows),
        "What the choice buys, as measured above:\n",
        "\n".join(_buys(c) for c in choices) + "\n",
        _findings(choices),
        reduced + "\n",
    ]
    mem_header = ["circuit", "logrows", "key derivation s", "derive child: wall s", "derive child: peak RSS MB",
                  "one proof s", "prove child: peak RSS MB", "proving key MB on disk"]
    mem_rows = [[m.circuit.name, str(m.circuit.logrows), f"{m.setup_s:.1f}", f"{m.derive.wall_s:.1f}",
                 f"{m.derive.peak_rss_mb:.0f}", f"{m.prove_s:.2f}", f"{m.prove.peak_rss_mb:.0f}",
                 f"{m.pk_bytes / 1e6:.1f}"] for m in memories]
    mem_rows.append(["(no circuit: Python, ezkl and the registry loaded)", "-", "-", f"{baseline.wall_s:.1f}",
                     f"{baseline.peak_rss_mb:.0f}", "-", "-", "-"])
    body += [
        "### Keys and memory\n",
        "What an operator sizes a miner by. Per circuit, a child process derives the proving key into a fresh "
        "cache (`ensure_keys`, as a miner's first start does: key derivation s is `ezkl.setup` and the vk check "
        "inside the child; the child's wall time includes starting Python and loading the registry), then another "
        "child builds a prover as a miner's worker does (`make_prover`) and proves once. Peak RSS is each child's "
        "`ru_maxrss` from `os.wait4` (interpreter and imports included; the last row is that baseline alone). "
        "A miner runs one such prover process per worker (by default one per served circuit) beside its main "
        "process.\n",
        markdown_table(mem_header, mem_rows),
    ]
    light = [m for m in memories if not m.circuit.heavy]
    targets = []
    if light:
        peak = max(m.prove.peak_rss_mb for m in light)
        targets.append(Target(
            name="circuits: a light circuit's prover process fits docs/hardware.md's miner memory",
            measured=", ".join(f"{m.circuit.name} {m.prove.peak_rss_mb:.0f} MB" for m in light),
            wanted=f"≤ {MINER_MEMORY_MB:.0f} MB peak RSS", met=peak <= MINER_MEMORY_MB,
            note="one prover process; a miner adds its main process"))
    data: dict[str, object] = {
        "budget": dataclasses.asdict(budget),
        "choices": [{"circuit": c.circuit.name, "heavy": c.circuit.heavy, "seconds": c.seconds,
                     "same_vk_as_shipped": c.identical,
                     "defaults_calibration_rows": c.calibration_rows, "build_calibration_rows": c.build_rows, "manifest_measured": dataclasses.asdict(c.circuit.measured),
                     "defaults": _row_data(c.defaults), "chosen": _row_data(c.chosen)} for c in choices],
        "memory": [{"circuit": m.circuit.name, "logrows": m.circuit.logrows, "setup_s": m.setup_s,
                    "derive_wall_s": m.derive.wall_s, "derive_peak_rss_mb": m.derive.peak_rss_mb, "prove_s": m.prove_s,
                    "prove_wall_s": m.prove.wall_s, "prove_peak_rss_mb": m.prove.peak_rss_mb, "pk_bytes": m.pk_bytes}
                   for m in memories],
        "baseline": {"wall_s": baseline.wall_s, "peak_rss_mb": baseline.peak_rss_mb},
    }
    return Section(title=TITLE, body="\n".join(body), targets=tuple(targets), data=data)


def _row_data(r: RowResult) -> dict[str, object]:
    values = dataclasses.asdict(r)
    values["row"] = r.row.label
    values["pk_mb"] = r.pk_mb
    return values


def _child_main(mode: str, name: str | None, models_dir: Path, key_cache: Path | None) -> dict[str, float]:
    """What one child measures inside itself (see ``main``)."""
    quiet_native_logs()
    registry = CircuitRegistry.load(models_dir)
    if mode == "load":
        return {}
    assert name is not None and key_cache is not None
    circuit = registry.by_name(name)
    if mode == "derive":
        started = time.perf_counter()
        pk = ensure_keys(circuit, key_cache, progress=lambda line: None)
        return {"setup_s": time.perf_counter() - started, "pk_bytes": pk.stat().st_size}
    prover = EzklProver(registry, key_cache=key_cache)  # as make_prover builds a miner's worker
    inputs = Sampler.load(circuit.samples_path, circuit.metadata.input).draw(np.random.default_rng(0))
    result = prover.prove(circuit.id, inputs)
    return {"prove_s": result.witness_s + result.prove_s}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.circuit_choice",
        description="The child processes of the performance report's circuits part (run by its run(); "
        "the part itself runs with python -m bench.performance --only circuits). Each prints one JSON line.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("mode", choices=("derive", "prove", "load"),
                        help="derive: the circuit's proving key into --key-cache (prints setup_s, pk_bytes); "
                        "prove: one proof with the key already there (prints prove_s); load: only load the registry")
    parser.add_argument("name", nargs="?", default=None, help="the circuit's name (derive and prove)")
    parser.add_argument("--models", type=Path, default=REPO / "models", help="the folder of model folders")
    parser.add_argument("--key-cache", dest="key_cache", type=Path, default=None,
                        help="the proving-key cache (derive and prove: derive writes the key there, prove reads it)")
    args = parser.parse_args(argv)
    if args.mode != "load" and (args.name is None or args.key_cache is None):
        parser.error(f"{args.mode} needs the circuit's name and --key-cache, e.g. python -m bench.circuit_choice "
                     f"{args.mode} wine_mlp --key-cache /tmp/keys")
    print(json.dumps(_child_main(args.mode, args.name, args.models, args.key_cache)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
