"""Miner and validator resource benchmark (not a test): ``python bench/bench_neurons.py --rounds 12``.

Runs the real daemons against each other on a throw-away embedded devnet and
prints one JSON object with what an operator sizes a machine by. What it does,
in order:

1. Creates a devnet subnet (netuid 2, 1 s blocks) with one staked, permitted
   validator wallet and one miner wallet, through the devnet's own admin
   operations, what ``python -m neurons.devnet`` runs (``bench/local_subnet.py``).
2. Starts ``neurons/miner.py`` with an empty ``--keys.cache`` (so start-up
   includes deriving every proving key), announcing ``--axon.external_port``: a
   small TCP relay in front of its ``--axon.port`` that counts bytes each way.
3. Once the miner has announced its axon, optionally pins its processes to
   ``--miner-cores`` (``sched_setaffinity``), then starts ``neurons/validator.py
   --validator.round_interval 0`` and waits for ``--rounds`` lines in its
   ``reports.jsonl``; then stops both with SIGINT, as pm2 does.
4. Every 0.1 s it reads each daemon's process tree from ``/proc``: the sum of
   ``Pss:`` from ``smaps_rollup`` (peak kept) and ``utime + stime`` from ``stat``
   (CPU-seconds). The validator's serving CPU counts from its
   "validating with circuits" line on, so start-up is reported apart.
5. Response and verify times, proof sizes and outcomes come from
   ``reports.jsonl``.

Linux only (``/proc``). The machine's load shows in every figure; the output
includes ``uptime``'s load averages before and after. Everything is written
under ``--root`` (a temporary directory by default) and nothing is downloaded.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.local_subnet import Neuron, free_port, make_subnet, neuron_env  # noqa: E402
from bench.processes import Sampler, process_tree  # noqa: E402

class CountingRelay:
    """A TCP relay on ``listen_port`` to ``target_port`` on localhost that counts bytes each way."""

    def __init__(self, listen_port: int, target_port: int) -> None:
        self.up = self.down = self.connections = 0
        self._listen, self._target = listen_port, target_port
        self._ready = threading.Event()
        threading.Thread(target=lambda: asyncio.run(self._serve()), daemon=True).start()
        self._ready.wait(10)

    async def _pipe(self, reader, writer, direction: str) -> None:
        try:
            while data := await reader.read(65536):
                setattr(self, direction, getattr(self, direction) + len(data))
                writer.write(data)
                await writer.drain()
        finally:
            writer.close()

    async def _handle(self, client_reader, client_writer) -> None:
        self.connections += 1
        reader, writer = await asyncio.open_connection("127.0.0.1", self._target)
        await asyncio.gather(self._pipe(client_reader, writer, "up"), self._pipe(reader, client_writer, "down"),
                             return_exceptions=True)

    async def _serve(self) -> None:
        server = await asyncio.start_server(self._handle, "127.0.0.1", self._listen)
        self._ready.set()
        async with server:
            await server.serve_forever()


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def measure(root: Path, rounds: int, miner_cores: set[int] | None) -> dict:
    load_before = load_average()
    net = make_subnet(root)
    keys, env = root / "keys", neuron_env(root)
    axon, relay_port = free_port(), free_port()
    relay = CountingRelay(relay_port, axon)
    started = time.monotonic()
    miner = Neuron.script("neurons/miner.py", [*net.chain_args(), "--wallet.name", "m1", "--axon.port", str(axon),
                                        "--keys.cache", str(keys), "--axon.external_port", str(relay_port)],
                   log=root / "miner.log", env=env)
    miner_sampler = Sampler(miner.proc.pid)
    miner_sampler.start()
    validator = None
    try:
        miner.wait_for_line("announced axon", 300)
        startup_s, startup_cpu, idle_peak = time.monotonic() - started, miner_sampler.cpu, miner_sampler.peak
        if miner_cores:
            for pid in process_tree(miner.proc.pid):
                os.sched_setaffinity(pid, miner_cores)
        validator = Neuron.script("neurons/validator.py", [*net.chain_args(), "--wallet.name", "val",
                                                    "--validator.round_interval", "0", "--state.dir", str(root / "vstate")],
                           log=root / "validator.log", env=env)
        validator_sampler = Sampler(validator.proc.pid)
        validator_sampler.start()
        validator.wait_for_line("validating with circuits", 120)
        validator_startup_cpu = validator_sampler.cpu
        reports = next_reports(root / "vstate")
        busy_from = time.monotonic()
        validator.wait_for("rounds", lambda: len(reports()) >= rounds, 900)
        busy_s = time.monotonic() - busy_from
    finally:
        if validator is not None:
            validator.stop()
        miner.stop()
    miner_sampler.stopped.set()
    validator_sampler.stopped.set()
    records = [r for line in reports() for r in json.loads(line)["records"]]
    by_circuit: dict[str, list[dict]] = {}
    for r in records:
        by_circuit.setdefault(r["circuit_name"], []).append(r)
    return {
        "load_average_before": load_before, "load_average_after": load_average(),
        "miner_cores": sorted(miner_cores) if miner_cores else "all",
        "miner_startup_s_with_key_derivation": round(startup_s, 1),
        "miner_peak_pss_mb_idle": round(idle_peak / 2**20),
        "miner_peak_pss_mb": round(miner_sampler.peak / 2**20),
        "miner_processes": miner_sampler.processes,
        "miner_cpu_s_per_proof": round((miner_sampler.cpu - startup_cpu) / max(1, len(records)), 2),
        "bytes_per_query_in_to_miner": relay.up // max(1, len(records)),
        "bytes_per_query_out_of_miner": relay.down // max(1, len(records)),
        "validator_peak_pss_mb": round(validator_sampler.peak / 2**20),
        "validator_processes": validator_sampler.processes,
        "validator_startup_cpu_s": round(validator_startup_cpu, 1),
        "validator_cpu_s_per_response": round((validator_sampler.cpu - validator_startup_cpu) / max(1, len(records)), 3),
        "wall_s_for_rounds": round(busy_s, 1),
        "key_cache_mb": round(sum(f.stat().st_size for f in keys.rglob("*") if f.is_file()) / 1e6, 1),
        "per_circuit": {name: {
            "proofs": len(rs), "verified": sum(bool(r["verified"]) for r in rs),
            "response_s_median": round(statistics.median(r["response_s"] for r in rs), 2),
            "response_s_max": round(max(r["response_s"] for r in rs), 2),
            "verify_ms_median": round(1e3 * statistics.median(r["verify_s"] for r in rs if r["verified"]), 1),
            "proof_bytes": sorted({r["proof_bytes"] for r in rs}),
        } for name, rs in by_circuit.items()},
    }


def next_reports(state_dir: Path):
    """A function returning the lines of the validator's ``reports.jsonl`` (none until it exists)."""
    def lines() -> list[str]:
        found = sorted(state_dir.glob("*/reports.jsonl"))
        return found[0].read_text().splitlines() if found else []
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=12, help="validator rounds to wait for (default 12)")
    parser.add_argument("--miner-cores", default=None,
                        help="comma-separated CPU numbers to pin the miner to after start-up, e.g. 0 (default: all)")
    parser.add_argument("--root", type=Path, default=None,
                        help="folder for the devnet, wallets, keys and logs (default: a temporary one, removed after)")
    args = parser.parse_args()
    cores = {int(c) for c in args.miner_cores.split(",")} if args.miner_cores else None
    if args.root is not None:
        args.root.mkdir(parents=True, exist_ok=True)
        result = measure(args.root, args.rounds, cores)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            result = measure(Path(tmp), args.rounds, cores)
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
