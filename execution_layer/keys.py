"""Derive or check the proving key of every shipped circuit, with progress.

``python -m execution_layer.keys [--circuits NAME ...] [--skip-heavy] [--key-cache DIR] [--models DIR] [--srs-dir DIR]``

Which keys: every circuit that loads, or those ``--circuits`` names (names or
ids; an unknown or broken one is an error naming what there is), and without
the heavy ones (``Circuit.heavy``: a proof over ``timeouts.HEAVY_S`` on the
minimum miner) under ``--skip-heavy``, which names what it skipped. ``setup.sh``
runs it with ``--skip-heavy`` unless ``--all-keys``: a miner that serves a
heavy circuit derives its key at start, with progress in its log.

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
from execution_layer.timeouts import HEAVY_S
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
    parser.add_argument("--circuits", nargs="+", default=None, metavar="NAME",
                        help="names or ids of the circuits whose keys to derive (default: every circuit that loads)")
    parser.add_argument("--skip-heavy", dest="skip_heavy", action="store_true",
                        help="leave out heavy circuits (a proof over "
                        f"{HEAVY_S:.0f} s on the minimum miner; their keys take longest): a miner serving one "
                        "derives its key at start")
    args = parser.parse_args(argv)
    cache = default_key_cache(args.key_cache)
    try:
        registry = CircuitRegistry.load(args.models, srs_dir=args.srs_dir)
        for bad in registry.broken:
            print(f"warning: {bad.warning}", file=sys.stderr)
        circuits = _chosen(registry, args.circuits)
        if args.skip_heavy:
            heavy = [c for c in circuits if c.heavy]
            if heavy:
                print(f"skipping the heavy circuits {', '.join(c.name for c in heavy)} (--skip-heavy): a miner "
                      "serving one derives its key at start, or derive them now with "
                      f"python -m execution_layer.keys --circuits {' '.join(c.name for c in heavy)}", flush=True)
            circuits = [c for c in circuits if not c.heavy]
        with tqdm(total=len(circuits), desc="proving keys", unit="circuit", disable=None) as bar:
            for circuit in circuits:
                _derive_one(circuit, cache, bar)
                bar.update(1)
    except ExecutionError as e:
        print(f"keys: {e}", file=sys.stderr)
        return 1
    return 0


def _chosen(registry: CircuitRegistry, wanted: list[str] | None) -> list[Circuit]:
    """The circuits ``wanted`` names (names or ids), in registry order; every loaded one when None."""
    if wanted is None:
        return list(registry)
    chosen = {(registry.get(w) if w in registry else registry.by_name(w)).id for w in wanted}
    return [c for c in registry if c.id in chosen]


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
