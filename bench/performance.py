"""The performance report: ``python -m bench.performance`` writes ``docs/performance.md``.

It runs the benchmark parts one after the other on this machine (never two at once:
each one uses every core), then writes the report (``bench.report.render``) and the
raw numbers beside it (``docs/performance.json``):

- ``miner`` (``bench.miner_path``): per shipped circuit, the response time the validator
  sees against bare ``ezkl.gen_witness`` + ``ezkl.prove`` on the same inputs, interleaved;
  where the difference goes; requests per second under concurrent load until the miner
  refuses; key derivation time; peak memory.
- ``circuits`` (``bench.circuit_choice``): per shipped model, ezkl's default run args
  against the circuit the build chose.
- ``validator`` (``bench.validator_round``): verifications per second with one worker and
  one per core; a 256-uid round on loopback against stand-in miners.

``--only`` runs some parts; ``--quick`` shrinks each to a smoke run (its numbers are not
for the docs, so it writes to ``--out`` only when given one). Run it on a quiet machine:
the load average before and after each part is in the report.
"""

from __future__ import annotations

import argparse
import datetime
import importlib
import json
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.report import PartOptions, Section, describe_machine, load_average, render  # noqa: E402

__all__ = ["PARTS", "main"]

REPO = Path(__file__).resolve().parent.parent
# Part name -> module with ``run(PartOptions) -> Section``, in the order they run.
PARTS = {"miner": "bench.miner_path", "circuits": "bench.circuit_choice", "validator": "bench.validator_round"}


def run_part(name: str, options: PartOptions) -> Section:
    """Run one part, stamping its wall time and the load average around it."""
    module = importlib.import_module(PARTS[name])
    before, started = load_average(), time.perf_counter()
    section: Section = module.run(options)
    from dataclasses import replace

    return replace(section, seconds=time.perf_counter() - started, load_before=before, load_after=load_average())


def main(argv: list[str] | None = None) -> int:
    from execution_layer import DEFAULT_KEY_CACHE

    p = argparse.ArgumentParser(prog="python -m bench.performance", description=__doc__.split("\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--only", nargs="+", choices=list(PARTS), default=list(PARTS), help="Parts to run, in order.")
    p.add_argument("--quick", action="store_true", help="A smoke run of each part (numbers not for the docs).")
    p.add_argument("--circuits", nargs="+", default=None, help="Only these shipped circuits (folder names).")
    p.add_argument("--out", type=Path, default=None,
                   help="Where to write the report (default docs/performance.md; a --quick run writes only here).")
    p.add_argument("--keys.cache", dest="key_cache", type=Path, default=DEFAULT_KEY_CACHE,
                   help="Proving-key cache (keys are derived there once if missing).")
    args = p.parse_args(argv)
    out = args.out if args.out is not None else (None if args.quick else REPO / "docs" / "performance.md")
    started_at = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    started = time.perf_counter()
    sections = []
    with tempfile.TemporaryDirectory(prefix="poi-perf-") as work:
        for name in args.only:
            print(f"== {name}", flush=True)
            options = PartOptions(work=Path(work) / name, key_cache=args.key_cache.expanduser(), quick=args.quick,
                                  circuits=tuple(args.circuits) if args.circuits else None)
            options.work.mkdir(parents=True)
            section = run_part(name, options)
            for target in section.targets:
                print(f"   {target.name}: {target.measured} (wanted {target.wanted}) "
                      f"{'met' if target.met else 'MISSED' if target.met is False else 'not measured'}", flush=True)
            sections.append(section)
    command = "python -m bench.performance" + (" " + " ".join(argv if argv is not None else sys.argv[1:])).rstrip()
    text = render(describe_machine(), sections, command=command.strip(), started=started_at,
                  wall_s=time.perf_counter() - started)
    if out is None:
        print(text)
        return 0
    out.write_text(text)
    out.with_suffix(".json").write_text(json.dumps([asdict(s) for s in sections], indent=1, default=str) + "\n")
    print(f"wrote {out} and {out.with_suffix('.json')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
