"""Derive or check the proving key of every shipped circuit, with progress.

``python -m execution_layer.keys [--key-cache DIR] [--models DIR] [--srs FILE]``

Keys go to ``<cache>/<circuit id>/pk.key``; the cache is ``--key-cache``, else
``$POI_KEY_CACHE``, else ``~/.cache/proof-of-inference/keys``. Keys already
cached are reported, not derived again. Exit status 1 on any error.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from execution_layer._keycache import ENV_VAR, default_key_cache, ensure_keys
from execution_layer.registry import CircuitRegistry, default_models_dir
from execution_layer.types import ExecutionError

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m execution_layer.keys",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--key-cache", type=Path, default=None,
                        help=f"cache root (default ${ENV_VAR} or ~/.cache/proof-of-inference/keys)")
    parser.add_argument("--models", type=Path, default=default_models_dir())
    parser.add_argument("--srs", type=Path, default=None)
    args = parser.parse_args(argv)
    cache = default_key_cache(args.key_cache)
    try:
        registry = CircuitRegistry.load(args.models, srs_path=args.srs)
        for circuit in registry:
            path = ensure_keys(circuit, cache, progress=lambda line: print(line, flush=True))
            print(f"{circuit.name}: {circuit.id[:16]}… key at {path}", flush=True)
    except ExecutionError as e:
        print(f"keys: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
