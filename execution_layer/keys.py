"""Derive or check the proving key of every shipped circuit, with progress.

``python -m execution_layer.keys [--key-cache DIR] [--models DIR] [--srs-dir DIR]``

Keys go to ``<cache>/<circuit id>/pk.key``; the cache is ``--key-cache``, else
``$POI_KEY_CACHE``, else ``~/.cache/proof-of-inference/keys``. Keys already
cached are reported, not derived again. A model folder that fails to load is
named on stderr (one ``warning:`` line: why and what to do) and skipped, as the
daemons do; exit status 1 on any other error, or when no circuit loads.

Output: when stderr is a terminal, a tqdm bar over the circuits whose
postfix shows the latest progress line (ticking about once a second while
``ezkl.setup`` runs), and each finished circuit's last progress line and key
path printed above it. Otherwise (pipes, logs, daemons) every progress line is
printed as it comes, then the key path.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tqdm import tqdm

from execution_layer._keycache import DEFAULT_KEY_CACHE, ENV_VAR, default_key_cache, ensure_keys
from execution_layer.circuit import Circuit
from execution_layer.registry import CircuitRegistry, default_models_dir
from execution_layer.types import ExecutionError

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m execution_layer.keys",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--key-cache", type=Path, default=None,
                        help=f"cache root (default ${ENV_VAR} or {DEFAULT_KEY_CACHE})")
    parser.add_argument("--models", type=Path, default=default_models_dir(),
                        help="folder holding the model folders and srs/ (default: the repository's models/)")
    parser.add_argument("--srs-dir", dest="srs_dir", type=Path, default=None,
                        help="folder of the SRS files the circuits were built with, kzg<logrows>.srs (default: srs/ in --models)")
    args = parser.parse_args(argv)
    cache = default_key_cache(args.key_cache)
    try:
        registry = CircuitRegistry.load(args.models, srs_dir=args.srs_dir)
        for bad in registry.broken:
            print(f"warning: {bad.warning}", file=sys.stderr)
        with tqdm(total=len(registry), desc="proving keys", unit="circuit", disable=None) as bar:
            for circuit in registry:
                _derive_one(circuit, cache, bar)
                bar.update(1)
    except ExecutionError as e:
        print(f"keys: {e}", file=sys.stderr)
        return 1
    return 0


def _derive_one(circuit: Circuit, cache: Path, bar: tqdm) -> None:
    """Ensure one circuit's key, reporting through ``bar`` (or plain lines when it is disabled)."""
    if bar.disable:
        path = ensure_keys(circuit, cache, progress=lambda line: print(line, flush=True))
    else:
        lines: list[str] = []

        def progress(line: str) -> None:
            lines.append(line)
            bar.set_postfix_str(line)  # refreshes the bar, so its elapsed time ticks with each heartbeat

        path = ensure_keys(circuit, cache, progress=progress)
        bar.set_postfix_str("")
        if lines:
            bar.write(lines[-1])
    line = f"{circuit.name}: {circuit.id[:16]}… key at {path}"
    if bar.disable:
        print(line, flush=True)
    else:
        bar.write(line)


if __name__ == "__main__":
    sys.exit(main())
