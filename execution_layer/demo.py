"""Prove and verify one inference of the default model: ``python -m execution_layer.demo``.

Loads the registry (verifying every hash; a folder that fails is named on
stderr and skipped, and an error only when ``--model`` names it), derives the proving key if it is not
cached yet, samples a fresh input as a validator does (``models.sampling``
over the model's samples and input spec), proves it with ezkl, verifies the proof as a
validator would, and prints the prediction, the outputs, the proof size and
the timings.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from execution_layer._keycache import DEFAULT_KEY_CACHE, ENV_VAR
from execution_layer.prover import EzklProver
from execution_layer.registry import CircuitRegistry, default_models_dir
from execution_layer.types import ExecutionError
from execution_layer.verifier import fidelity, verify
from models.metadata import ModelError
from models.sampling import Sampler

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m execution_layer.demo", description=__doc__.split("\n")[0])
    parser.add_argument("--model", default=None, help="model name (default: the default model)")
    parser.add_argument("--key-cache", type=Path, default=None,
                        help=f"proving-key cache root (default ${ENV_VAR} or {DEFAULT_KEY_CACHE})")
    parser.add_argument("--models", type=Path, default=default_models_dir(),
                        help="folder holding the model folders and srs/ (default: the repository's models/)")
    parser.add_argument("--seed", type=int, default=None, help="input seed (default: fresh entropy)")
    args = parser.parse_args(argv)
    try:
        registry = CircuitRegistry.load(args.models)
        for bad in registry.broken:  # a broken folder never blocks the demo of a good one
            print(f"warning: {bad.warning}", file=sys.stderr)
        circuit = registry.by_name(args.model) if args.model else registry.default
        prover = EzklProver(registry, key_cache=args.key_cache)
        print(f"model    {circuit.name}: {circuit.description}")
        print(f"circuit  {circuit.id}")
        prover.ensure_keys(circuit.id, progress=lambda line: print(f"keys     {line}", flush=True))
        inputs = Sampler.load(circuit.samples_path, circuit.spec).draw(np.random.default_rng(args.seed))
        started = time.perf_counter()
        result = prover.prove(circuit.id, inputs)
        total = time.perf_counter() - started
        verdict = verify(circuit, result.proof, inputs)
    except (ExecutionError, ModelError) as e:
        print(f"demo failed: {e}", file=sys.stderr)
        return 1
    outputs = np.asarray(result.outputs)
    label = circuit.labels[int(outputs.argmax())] if circuit.labels else str(int(outputs.argmax()))
    print(f"predict  {label}")
    print(f"outputs  {np.array2string(outputs, precision=3, max_line_width=120)}")
    print(f"onnx     {np.array2string(circuit.run_onnx(inputs), precision=3, max_line_width=120)}")
    print(f"error    max |proof - onnxruntime| = {fidelity(circuit, inputs, result.outputs):.2e}")
    print(f"proof    {len(result.proof.proof)} bytes, {sum(map(len, result.proof.instances))} public values")
    print(f"timings  witness {result.witness_s * 1e3:.0f} ms, prove {result.prove_s:.2f} s, "
          f"total {total:.2f} s, verify {verdict.verify_s * 1e3:.0f} ms")
    print(f"verdict  {'ACCEPTED' if verdict.accepted else 'REJECTED: ' + str(verdict.reason)}")
    return 0 if verdict.accepted else 1


if __name__ == "__main__":
    sys.exit(main())
