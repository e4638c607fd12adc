"""Execution-layer benchmark (not a test): ``python bench/bench_execution.py``.

Per shipped model it prints: median prove time (our ``EzklProver.prove``, witness
included), median verify time, proof bytes, proving-key MB, peak RSS (MB, 10^6 bytes) of a
child process that loads the registry and proves once (ezkl is native, so the
child's ru_maxrss is measured), onnxruntime inference µs, and the ratio of our
``prove()`` to a bare ``ezkl.gen_witness`` + ``ezkl.prove`` on the same files,
measured interleaved in one run: the median over rounds of ours/bare for the
same inputs (target <= 1.05), and "ovh ms", the median time prove() spends
outside ezkl's gen_witness and prove (temp dir, JSON, decoding). The machine's load shows in every column; run it
on a quiet machine.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import ezkl  # noqa: E402
import numpy as np  # noqa: E402

from execution_layer import (  # noqa: E402
    DEFAULT_KEY_CACHE,
    CircuitRegistry,
    EzklProver,
    verify,
)
from bench.bare_ezkl import bare_prove  # noqa: E402
from bench.children import ChildFailed, run_child  # noqa: E402
from execution_layer._keycache import ENV_VAR  # noqa: E402
from models.sampling import Sampler  # noqa: E402


def onnx_us(circuit, inputs, runs: int = 2000) -> float:
    circuit.run_onnx(inputs)
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        circuit.run_onnx(inputs)
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1e6


def child_peak_rss_mb(name: str, key_cache: Path) -> float:
    try:
        return run_child([sys.executable, __file__, "--child", name, "--key-cache", str(key_cache)]).peak_rss_mb
    except ChildFailed as e:
        raise SystemExit(f"child for {name} failed: {e}") from None


def child(name: str, key_cache: Path) -> None:
    registry = CircuitRegistry.load()
    circuit = registry.by_name(name)
    inputs = Sampler.load(circuit.samples_path, circuit.spec).draw(np.random.default_rng())
    EzklProver(registry, key_cache=key_cache).prove(circuit.id, inputs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=6,
                        help="interleaved prove rounds per model, ours and bare ezkl each (default 6)")
    parser.add_argument("--key-cache", type=Path, default=None,
                        help=f"proving-key cache root (default ${ENV_VAR} or {DEFAULT_KEY_CACHE})")
    parser.add_argument("--model", action="append", default=None, help="only these models (repeatable)")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args.child, args.key_cache)

    registry = CircuitRegistry.load()
    prover = EzklProver(registry, key_cache=args.key_cache)
    rng = np.random.default_rng()
    print(f"ezkl {ezkl.__version__}, {os.cpu_count()} cpus, RAYON_NUM_THREADS={os.environ.get('RAYON_NUM_THREADS', '-')}, "
          f"{args.rounds} interleaved rounds per model")
    header = f"{'model':<11} {'logrows':>7} {'prove s':>8} {'witness ms':>10} {'verify ms':>9} {'proof B':>8} " \
             f"{'pk MB':>6} {'peak RSS MB':>11} {'onnx us':>8} {'bare s':>7} {'ratio':>6} {'ovh ms':>6} {'max err':>8}"
    rows = []
    for circuit in registry:
        if args.model and circuit.name not in args.model:
            continue
        pk = prover.ensure_keys(circuit.id, progress=lambda line: print(line, flush=True))
        ours, bare, proves, witnesses, verifies, errors, overheads = [], [], [], [], [], [], []
        sampler = Sampler.load(circuit.samples_path, circuit.spec)
        with tempfile.TemporaryDirectory() as tmp:
            prover.prove(circuit.id, sampler.draw(rng))  # warm caches
            for i in range(args.rounds):
                inputs = sampler.draw(rng)
                for which in ((0, 1) if i % 2 == 0 else (1, 0)):
                    if which == 0:
                        t = time.perf_counter()
                        result = prover.prove(circuit.id, inputs)
                        ours.append(time.perf_counter() - t)
                        proves.append(result.prove_s)
                        overheads.append(ours[-1] - result.prove_s - result.witness_s)
                        witnesses.append(result.witness_s)
                    else:
                        bare.append(bare_prove(circuit, pk, inputs, Path(tmp)))
                verdict = verify(circuit, result.proof, inputs)
                assert verdict.accepted, verdict.reason
                verifies.append(verdict.verify_s)
                errors.append(float(np.max(np.abs(np.asarray(verdict.outputs) - circuit.run_onnx(inputs)))))
        rss = child_peak_rss_mb(circuit.name, prover.key_cache)
        ort = onnx_us(circuit, sampler.draw(rng))
        rows.append(f"{circuit.name:<11} {circuit.logrows:>7} {statistics.median(ours):>8.3f} "
                    f"{statistics.median(witnesses) * 1e3:>10.1f} {statistics.median(verifies) * 1e3:>9.1f} "
                    f"{len(result.proof.proof):>8} {pk.stat().st_size / 1e6:>6.1f} {rss:>11.0f} {ort:>8.1f} "
                    f"{statistics.median(bare):>7.3f} {statistics.median(o / b for o, b in zip(ours, bare)):>6.3f} "
                    f"{statistics.median(overheads) * 1e3:>6.1f} "
                    f"{max(errors):>8.1e}")
    print(header)
    print("\n".join(rows))


if __name__ == "__main__":
    main()
