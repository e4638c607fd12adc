"""The validator's part of the performance report (issue 13, item 4): ``run(options) -> Section``.

Two measurements, both of the real validator code:

1. **Verifications per second**: a ``VerifierPool`` with one worker, then one per core, kept
   saturated (twice as many verifies in flight as workers) over valid proofs of the light
   circuits (wine_mlp, digits_cnn), counted over a fixed number of verdicts after a warm-up;
   side by side: ``VERIFY_BLOCKS`` blocks of one run per worker count, the order alternating,
   and the scaling is the median of the blocks' ratios.
   Beside the rate: the workers' CPU-seconds per verify (about 1 x its wall time: ezkl's
   verify runs on one thread, so one worker per core can scale) and the validator
   process's own CPU per verify (pickling the call and the verdict).
2. **A 256-uid round** on loopback: a devnet subnet (``bench.local_subnet``) with the
   validator at uid 0 and 255 stand-in miners (``bench.standin_miners``, another process),
   every hotkey registered and its axon served through the real SDK. 25% of the uids have
   no listener, 10% accept and never answer, the rest answer with valid proofs of the
   validator's own inputs, signed by their hotkeys: the validator's ``sample`` seam is
   ``bench.round_proofs.SeededSample`` (the real sampler on a seeded generator), so every
   input it will send is known and proved before the round (``bench.round_proofs``,
   cached on disk). The validator runs in its own process with the collaborators
   ``neurons.validating.service`` wires (MinerClient, a VerifierPool of one worker per
   core, CapabilityBook, ReplayGuard, StateStore, PinWatcher, reports.jsonl, the devnet
   through the SDK); before the measured round it fills its capability book (what a
   running validator holds from its previous rounds; refreshed every 10 minutes) and warms
   its verifier. Measured: the round's wall time, the validator process's CPU-seconds and
   its verifier workers' CPU-seconds (from ``/proc``), the peak PSS of its process tree
   (``bench.processes.Sampler``), the outcome of every record and the weight write.

``python -m bench.validator_round [--quick] [--uids N] [--profile FILE]`` runs this part
alone and prints its markdown (``--profile`` writes a cProfile of the validator process
during the round).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import cProfile
import json
import logging
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.processes import Sampler, process_tree, pss_and_cpu  # noqa: E402
from bench.local_subnet import NETUID, Neuron, free_port, make_subnet, neuron_env  # noqa: E402
from bench.report import PartOptions, Section, Target, markdown_table  # noqa: E402
from bench.round_proofs import CachedProof, SeededSample, ensure_proofs  # noqa: E402
from bench.standin_miners import Spec, StandIn  # noqa: E402

__all__ = ["run", "RoundPlan", "plan_round", "main"]

VERIFY_CIRCUITS = ("wine_mlp", "digits_cnn")
ROUND_CIRCUIT = "wine_mlp"
VERIFY_BLOCKS = 3  # blocks of the side-by-side verification rates (a quick run has one)
SEED = 13
HOST = "127.0.0.2"  # the devnet refuses 127.0.0.1 as an axon address, as subtensor does
REFUSE_SHARE, SILENT_SHARE = 0.25, 0.10


def _say(line: str) -> None:
    print(f"   [validator] {line}", flush=True)


# --- 1. verifications per second ---------------------------------------------------------


async def _verify_rate(batch: list[CachedProof], workers: int, count: int) -> dict[str, float]:
    """Verdicts per second of a saturated ``VerifierPool(workers=workers)`` over ``batch``."""
    from neurons.validating.verifier_pool import VerifierPool

    pool = VerifierPool(workers=workers)
    try:
        await pool.warm_up()
        me = os.getpid()
        rejected = 0
        cursor = 0

        async def drive(n: int) -> None:
            nonlocal cursor, rejected
            async def lane() -> None:
                nonlocal cursor, rejected
                while cursor < n:
                    item = batch[cursor % len(batch)]
                    cursor += 1
                    verdict = await pool.verify(item.proof.circuit_id, item.proof, item.inputs)
                    rejected += not verdict.accepted
            await asyncio.gather(*(lane() for _ in range(2 * workers)))

        await drive(2 * workers)  # warm-up: every worker has verified each circuit once or so
        cursor, rejected = 0, 0
        workers_before = pss_and_cpu([p for p in process_tree(me) if p != me])[1]
        own_before, started = time.process_time(), time.perf_counter()
        await drive(count)
        wall = time.perf_counter() - started
        own = time.process_time() - own_before
        worker_cpu = pss_and_cpu([p for p in process_tree(me) if p != me])[1] - workers_before
    finally:
        await pool.aclose()
    return {"workers": workers, "verifies": count, "rejected": rejected, "wall_s": wall,
            "per_s": count / wall, "worker_cpu_s_per_verify": worker_cpu / count,
            "wall_s_per_verify_per_worker": wall * workers / count, "own_cpu_ms_per_verify": 1e3 * own / count}


# --- 2. the round ------------------------------------------------------------------------


@dataclass(frozen=True)
class RoundPlan:
    """Who each stand-in uid is: ``refuse`` (no listener), ``silent`` or ``answer``."""

    behaviours: dict[int, str]

    def count(self, behaviour: str) -> int:
        return sum(b == behaviour for b in self.behaviours.values())


def plan_round(uids: int, seed: int = SEED) -> RoundPlan:
    """Uids 1..uids-1 (0 is the validator): round(25%) refuse, int(10%) silent, the rest
    answer, spread over the uids by a seeded shuffle."""
    import numpy as np

    miners = list(range(1, uids))
    refuse, silent = round(REFUSE_SHARE * len(miners)), int(SILENT_SHARE * len(miners))
    order = np.random.default_rng(seed).permutation(len(miners))
    behaviours = {}
    for rank, i in enumerate(order):
        behaviours[miners[i]] = "refuse" if rank < refuse else "silent" if rank < refuse + silent else "answer"
    return RoundPlan(behaviours)


def _build_subnet(root: Path, plan: RoundPlan) -> tuple[Any, list[StandIn]]:
    """The devnet subnet: the validator (uid 0; staked, permitted), then one miner hotkey per
    stand-in under one coldkey, each registered and its axon served through the SDK."""
    from neurons.chain import load_wallet
    from neurons.devnet import admin
    from neurons.devnet.runtime import SubnetParams

    # Tempo 360 as on finney: no epoch falls due during the bench (the embedded devnet would
    # run it inside the validator process, at the first chain read after it is due).
    net = make_subnet(root, validators=("val",), miners=(), params=SubnetParams(tempo=360, weights_rate_limit=3))
    standins, ports = [], set()
    for uid in sorted(plan.behaviours):
        admin.wallet_create("miners", f"h{uid:03d}", net.wallets)
        port = free_port()
        while port in ports:  # free a moment ago, but maybe handed out twice: one port per uid
            port = free_port()
        ports.add(port)
        standins.append(StandIn(uid=uid, wallet="miners", hotkey=f"h{uid:03d}", port=port,
                                behaviour=plan.behaviours[uid]))

    async def register_all() -> None:
        chain = await admin.open_chain(net.state, netuid=NETUID)
        try:
            for s in standins:
                wallet = load_wallet(s.wallet, s.hotkey, net.wallets)
                for write in (chain.register(wallet, NETUID), chain.serve_axon(wallet, NETUID, HOST, s.port)):
                    result = await write
                    if not result.ok:
                        raise RuntimeError(f"uid {s.uid}: {result.error}")
                if await chain.uid_of(NETUID, wallet.hotkeypub.ss58_address) != s.uid:
                    raise RuntimeError(f"hotkey {s.hotkey} did not get uid {s.uid}")
        finally:
            await chain.close()

    asyncio.run(register_all())
    return net, standins


def _validator_child(config: dict[str, Any], conn: Connection) -> None:
    """The validator process: build the real collaborators, fill the capability book, run one
    round, send what was measured back on ``conn``."""
    os.environ["BTCLI_TOKEN_SYMBOLS_CACHE"] = config["token_cache"]
    from utils.log import configure_logging

    with open(config["log"], "a") as stream:
        configure_logging("validator", False, stream=stream)
        try:
            conn.send(("ok", asyncio.run(_validate_once(config))))
        except BaseException as error:  # the parent reports it; the traceback is in the log
            logging.getLogger("validator").exception("benchmark round failed")
            conn.send(("error", f"{type(error).__name__}: {error}"))


async def _validate_once(config: dict[str, Any]) -> dict[str, Any]:
    import numpy as np

    from execution_layer import CircuitRegistry
    from neurons.chain import load_wallet
    from neurons.devnet import admin
    from neurons.shared.pins import PinWatcher
    from neurons.shared.version import VERSION_KEY
    from neurons.validating.capabilities import CapabilityBook
    from neurons.validating.challenge import late_grace
    from neurons.validating.client import MinerClient
    from neurons.validating.loop import Validator
    from neurons.validating.replay_guard import ReplayGuard
    from neurons.validating.state import StateStore
    from neurons.validating.verifier_pool import VerifierPool

    wallets, state_dir = Path(config["wallets"]), Path(config["state_dir"])
    chain = await admin.open_chain(Path(config["state"]), netuid=NETUID)
    wallet = load_wallet("val", "default", wallets)
    registry = CircuitRegistry.load()
    circuits = [registry.by_name(name) for name in config["circuits"]]
    pins = PinWatcher(circuits, chain=chain, netuid=NETUID, network="devnet", enforce=False, role="challenged")
    await pins.refresh()
    verifier = VerifierPool(workers=config["workers"])
    await verifier.warm_up()
    me = os.getpid()
    try:
        async with MinerClient(wallet) as client:
            capabilities = CapabilityBook(client)
            validator = Validator(
                wallet=wallet, chain=chain, netuid=NETUID, circuits=circuits, client=client, verify=verifier.verify,
                store=StateStore(state_dir / "state.json"), guard=ReplayGuard(), version_key=VERSION_KEY,
                sample=SeededSample(config["seed"]), rng=np.random.default_rng(config["seed"]),
                allow_private_axons=True, reports_path=state_dir / "reports.jsonl", capabilities=capabilities,
                pins=pins,
            )
            # What a running validator holds from its earlier rounds: every miner's capabilities.
            metagraph = await chain.metagraph(NETUID)
            for neuron in metagraph.neurons:
                if neuron.axon is not None and neuron.hotkey != validator.hotkey:
                    capabilities.served(neuron)
            await capabilities.settle()
            # Verify once per worker, so the round does not pay the first verify's setup.
            first = [CachedProof.from_json(json.loads(Path(p).read_text())) for p in config["warm"]]
            await asyncio.gather(*(verifier.verify(c.proof.circuit_id, c.proof, c.inputs) for c in first))
            profile = cProfile.Profile(time.process_time) if config.get("profile") else None  # CPU, not wall, time
            workers_before = pss_and_cpu([p for p in process_tree(me) if p != me])[1]
            own_before, started = time.process_time(), time.perf_counter()
            if profile is not None:
                profile.enable()
            report = await validator.run_round()
            if profile is not None:
                profile.disable()
            wall = time.perf_counter() - started
            own = time.process_time() - own_before
            workers = pss_and_cpu([p for p in process_tree(me) if p != me])[1] - workers_before
            await capabilities.aclose()
        if profile is not None:
            profile.dump_stats(config["profile"])
    finally:
        await verifier.aclose()
        await chain.close()
    kinds: collections.Counter[str] = collections.Counter()
    for r in report.records:
        kind = r.outcome.value
        if kind == "no_response" and r.reason is not None:
            kind = r.reason.split(":", 1)[0]  # the client's status: connect_error or timeout
        kinds[kind] += 1
    verified = [r for r in report.records if r.verified]
    timeout = max(c.timeout_s for c in circuits)
    w = report.weights
    return {
        "wall_s": wall, "validator_cpu_s": own, "verifier_cpu_s": workers, "records": len(report.records),
        "outcomes": dict(kinds), "verified": len(verified),
        "slowest_valid_s": max((r.response_s for r in verified), default=0.0),
        "median_valid_s": statistics.median(r.response_s for r in verified) if verified else 0.0,
        "verify_ms_median": 1e3 * statistics.median(r.verify_s for r in verified) if verified else 0.0,
        "timeout_s": timeout, "late_grace_s": late_grace(timeout),
        "weights": None if w is None else {"ok": w.ok, "block": w.block, "rate_limited": w.rate_limited,
                                           "reveal_round": w.reveal_round, "error": w.error,
                                           "uids": len([v for v in report.averages.values() if v > 0])},
    }


def _run_round(root: Path, options: PartOptions, uids: int, proofs: list[CachedProof],
               proof_files: list[Path], profile: Path | None) -> dict[str, Any]:
    plan = plan_round(uids)
    started = time.perf_counter()
    net, standins = _build_subnet(root, plan)
    setup_s = time.perf_counter() - started
    spec = root / "standins.json"
    spec.write_text(Spec(net.wallets, HOST, tuple(proof_files), tuple(standins)).to_json())
    env = neuron_env(root)
    served = Neuron([sys.executable, "-m", "bench.standin_miners", str(spec)], log=root / "standins.log", env=env)
    try:
        served.wait_for_line("standins ready", 120)
        config = {"state": str(net.state), "wallets": str(net.wallets), "state_dir": str(root / "vstate"),
                  "circuits": [ROUND_CIRCUIT], "seed": SEED, "workers": os.cpu_count() or 1,
                  "token_cache": env["BTCLI_TOKEN_SYMBOLS_CACHE"], "log": str(root / "validator.log"),
                  "warm": [str(p) for p in proof_files[-(os.cpu_count() or 1):]],
                  "profile": str(profile) if profile else None}
        (root / "vstate").mkdir()
        context = multiprocessing.get_context("spawn")
        ours, theirs = context.Pipe(duplex=False)
        child = context.Process(target=_validator_child, args=(config, theirs), name="validator")
        child.start()
        theirs.close()
        sampler = Sampler(child.pid or 0)
        sampler.start()
        try:
            if not ours.poll(300):
                raise RuntimeError(f"the validator process gave no result in 300 s; see {root / 'validator.log'}")
            status, result = ours.recv()
        finally:
            sampler.stopped.set()
            child.join(60)
            if child.is_alive():
                child.kill()
        if status != "ok":
            raise RuntimeError(f"the validator process failed: {result}; log:\n{(root / 'validator.log').read_text()[-3000:]}")
    finally:
        served.stop()
    result.update(uids=uids, setup_s=setup_s, peak_pss_mb=sampler.peak / 2**20, processes=sampler.processes,
                  refuse=plan.count("refuse"), silent=plan.count("silent"), answer=plan.count("answer"))
    return result


# --- the part ----------------------------------------------------------------------------


def _proof_cache(options: PartOptions) -> Path:
    """Beside the key cache (``~/.cache/proof-of-inference/bench-proofs`` by default): kept
    between runs, unlike ``options.work``."""
    return options.key_cache.parent / "bench-proofs"


def measure(options: PartOptions, *, uids: int | None = None, profile: Path | None = None) -> dict[str, Any]:
    """Every number of this part, raw (``run`` turns them into the Section)."""
    from execution_layer import CircuitRegistry

    registry = CircuitRegistry.load()
    wanted = [n for n in VERIFY_CIRCUITS if options.circuits is None or n in options.circuits] or [ROUND_CIRCUIT]
    if options.quick:
        wanted = wanted[:1]
    uids = uids or (16 if options.quick else 256)
    cache = _proof_cache(options)
    draws = {name: (8 if options.quick else 16) for name in wanted}
    draws[ROUND_CIRCUIT] = max(draws.get(ROUND_CIRCUIT, 0), uids - 1)  # one input per challenged miner
    started = time.perf_counter()
    proofs = {name: ensure_proofs(cache, registry.by_name(name), SEED, n, key_cache=options.key_cache, progress=_say)
              for name, n in draws.items()}
    precompute_s = time.perf_counter() - started

    count = 24 if options.quick else 240
    batch = [p for name in wanted for p in proofs[name][: (8 if options.quick else 16)]]
    batch = [batch[i] for i in sorted(range(len(batch)), key=lambda i: (i % 16, i))]  # circuits interleaved
    cores = os.cpu_count() or 1
    # Side by side: blocks of one run each, the order alternating from block to block, so a
    # burst of other load on the machine moves both sides of a block's ratio, not one.
    blocks = 1 if options.quick else VERIFY_BLOCKS
    per_block: list[list[dict[str, float]]] = []
    for block in range(blocks):
        order = (1, cores) if block % 2 == 0 else (cores, 1)
        found = {}
        for workers in order:
            _say(f"block {block + 1}/{blocks}: verifying {count * workers} proofs with {workers} worker(s)")
            found[workers] = asyncio.run(_verify_rate(batch, workers, count * workers))
        per_block.append([found[1], found[cores]])
    rates = [_median_rate([b[0] for b in per_block]), _median_rate([b[1] for b in per_block])]
    scalings = [b[1]["per_s"] / b[0]["per_s"] for b in per_block]

    folder = cache / registry.by_name(ROUND_CIRCUIT).id
    files = sorted(folder.glob(f"*seed{SEED}/*.json"), key=lambda p: (p.parent.name, int(p.stem)))
    files = [f for f in files if int(f.stem) < uids - 1]
    _say(f"a {uids}-uid round on loopback")
    round_ = _run_round(options.work / "round", options, uids, proofs[ROUND_CIRCUIT], files, profile)
    return {"precompute_s": precompute_s, "verify_circuits": wanted, "rates": rates, "scalings": scalings,
            "round": round_, "cores": cores}


def _median_rate(runs: list[dict[str, float]]) -> dict[str, float]:
    """Each number the median over ``runs`` (one worker count, several blocks)."""
    return {key: statistics.median(run[key] for run in runs) for key in runs[0]}


def _threads_finding(single: dict[str, float]) -> str:
    """What one worker's CPU per verify against its wall time per verify says about ezkl's threads."""
    ratio = single["worker_cpu_s_per_verify"] / single["wall_s_per_verify_per_worker"]
    if ratio < 1.3:
        return (f"One worker's CPU per verify is {ratio:.2f}x its wall time per verify: ezkl's verify runs on one "
                "thread (no rayon parallelism to speak of at these sizes), so a single worker leaves the other "
                "cores idle and one worker per core scales until the cores are busy; the validator process's own "
                "share (pickling the proof, reading the verdict) is the last column but one.")
    return (f"One worker's CPU per verify is {ratio:.2f}x its wall time per verify: ezkl's verify uses several "
            "threads, so one worker already takes more than a core and one worker per core cannot give cores x "
            "single; setting RAYON_NUM_THREADS=1 in the workers would trade single-proof latency for throughput.")


def _section(data: dict[str, Any]) -> Section:
    rates, r, cores = data["rates"], data["round"], data["cores"]
    single, many = rates[0], rates[-1]
    scalings = data["scalings"]
    scaling = statistics.median(scalings)
    rate_rows = [[str(x["workers"]), str(x["verifies"]), f"{x['per_s']:.1f}", f"{x['worker_cpu_s_per_verify'] * 1e3:.1f}",
                  f"{x['wall_s_per_verify_per_worker'] * 1e3:.1f}", f"{x['own_cpu_ms_per_verify']:.2f}",
                  str(x["rejected"])] for x in rates]
    cpu_total = r["validator_cpu_s"] + r["verifier_cpu_s"]
    outside = r["validator_cpu_s"] / cpu_total if cpu_total else 0.0
    bound = r["timeout_s"] + r["slowest_valid_s"] + 1.0
    o = r["outcomes"]
    w = r["weights"]
    weights = ("none submitted" if w is None else
               f"ok at block {w['block']}" + (f" (commit, reveal round {w['reveal_round']})" if w["reveal_round"] else "")
               if w["ok"] else f"not written: {w['error']}")
    body = "\n".join([
        f"Verification ({', '.join(data['verify_circuits'])}, valid proofs, circuits interleaved; "
        f"{2}x as many verifies in flight as workers, counted after a warm-up), in {len(scalings)} block(s) of one "
        "run per worker count, the order alternating; each number is the median over the blocks, and the ratio "
        "the median of the blocks' ratios "
        f"({', '.join(f'{x:.2f}' for x in scalings)}):\n",
        markdown_table(["workers", "verdicts", "verdicts/s", "worker CPU ms/verify", "wall ms/verify/worker",
                        "validator CPU ms/verify", "rejected"], rate_rows),
        f"One worker per core gives {scaling:.2f}x one worker on {cores} cores "
        f"({scaling / cores:.2f} x cores x single). {_threads_finding(single)}\n",
        f"A round of {r['uids']} uids on loopback ({r['records']} miners challenged on {ROUND_CIRCUIT}: "
        f"{r['refuse']} without a listener, {r['silent']} that never answer, {r['answer']} answering with valid "
        f"proofs; the stand-ins run in their own process; devnet set-up {r['setup_s']:.1f} s):\n",
        markdown_table(["measure", "value"], [
            ["round wall time", f"{r['wall_s']:.2f} s"],
            ["circuit timeout + late grace", f"{r['timeout_s']:.1f} s + {r['late_grace_s']:.1f} s"],
            ["slowest / median valid answer", f"{r['slowest_valid_s']:.3f} s / {r['median_valid_s']:.3f} s"],
            ["outcomes", ", ".join(f"{k} {v}" for k, v in sorted(o.items()))],
            ["validator process CPU", f"{r['validator_cpu_s']:.2f} s"],
            ["verifier workers CPU", f"{r['verifier_cpu_s']:.2f} s ({r['verify_ms_median']:.1f} ms median per verify)"],
            ["share of CPU outside verification", f"{outside:.0%}"],
            ["peak PSS, validator process tree", f"{r['peak_pss_mb']:.0f} MB ({r['processes']} processes)"],
            ["weight write", weights],
        ]),
        f"The round waits for its silent miners until the circuit's timeout plus the client's late grace "
        f"(`neurons.validating.challenge.late_grace`: a valid proof arriving after the timeout is recorded "
        f"``late``, not as no answer): {r['timeout_s'] + r['late_grace_s']:.1f} s is the least any round with a "
        "silent miner can take. The grace was 2 s, which alone put this round at 12.07 s against the bound "
        "(one timeout + the slowest valid answer + 1 s); it is now at most 0.5 s (an honest slow miner answers "
        "its own 408 at the deadline, so half a second still tells it from a silent one). The round's own work "
        f"past that wait is {max(0.0, r['wall_s'] - r['timeout_s'] - r['late_grace_s']):.2f} s.\n",
        f"CPU outside verification is the validator process during the round: {r['records']} signed requests, "
        f"their HTTP exchanges, checking {r['answer']} response signatures, decoding the JSON and base64 of the proofs, "
        "sending them to the verifier workers, the chain reads and the weight write (the embedded devnet answers "
        "those reads inside the validator process, so the node's share of them counts here too; tempo 360 keeps "
        "epochs out of the round), scoring, the state file and the report line. Verification is the verifier "
        "workers' CPU. Two fixes in `neurons/validating` closed most of the gap (measured with this bench, 256 "
        "uids, on the development machine at load 0.7, before and after in one sitting): the miner client's HTTP went from httpx's transport (httpcore over anyio "
        "and h11, pure Python, one pool shared by every miner, its cost growing with the connections open) to "
        "aiohttp's client (its HTTP parser is C) behind httpx's transport interface "
        "(`neurons.validating.transport`, one connection per query; `python bench/http_clients.py` measures the "
        "CPU per query of both side by side: 2.4 ms against 0.45 ms at 32 in flight), and then skipped "
        "`httpx.AsyncClient`'s layers (URL merging, a cookie jar, redirects) it never used: validator CPU per round "
        "0.59 s -> 0.27 s (measured with a hand-written HTTP/1.1 client first; aiohttp costs about the same), share outside verification 27% -> 15%, and the median valid answer as the validator "
        "sees it 0.32 s -> 0.08 s (the loop was busy with its own HTTP before). What is left is "
        "about a third HTTP (building requests, asyncio's connections), then signing and checking signatures "
        "(the SDK's `http_auth`), the report line (`dataclasses.asdict` of 255 records), scoring and the chain.\n",
        f"Proof precompute (cached in the proof cache beside the key cache): {data['precompute_s']:.0f} s this run.\n",
    ])
    targets = (
        Target("verifications/s, one worker per core vs one", f"{many['per_s']:.1f}/s vs {single['per_s']:.1f}/s; "
               f"median ratio of {len(scalings)} block(s): {scaling / cores:.2f} x {cores} cores x single", ">= 0.9 x cores x single",
               scaling >= 0.9 * cores,
               "" if scaling >= 0.9 * cores else "verify is single-threaded (see the section): with one worker per "
               "core the workers need every core, so other load on the machine lowers this rate first"),
        Target(f"{r['uids']}-uid round wall time", f"{r['wall_s']:.2f} s",
               f"<= timeout + slowest valid + 1 s = {bound:.2f} s", r["wall_s"] <= bound,
               f"the late grace of {r['late_grace_s']:.1f} s is waited for silent miners"),
        Target("validator CPU outside verification", f"{outside:.0%} ({r['validator_cpu_s']:.2f} of {cpu_total:.2f} CPU-s)",
               "<= 25%", outside <= 0.25),
    )
    return Section(title="The validator", body=body, targets=targets, data=data)


def run(options: PartOptions) -> Section:
    """This part of ``python -m bench.performance`` (see the module docstring)."""
    return _section(measure(options))


def main(argv: list[str] | None = None) -> int:
    from execution_layer import DEFAULT_KEY_CACHE

    p = argparse.ArgumentParser(prog="python -m bench.validator_round", description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="A smoke run (16 uids, wine_mlp only, few verifies).")
    p.add_argument("--uids", type=int, default=None, help="Uids in the round's subnet (default 256; 16 with --quick).")
    p.add_argument("--profile", type=Path, default=None,
                   help="Write a cProfile of the validator process during the round here (read it with pstats).")
    p.add_argument("--keys.cache", dest="key_cache", type=Path, default=DEFAULT_KEY_CACHE,
                   help="Proving-key cache; the proof cache is the folder bench-proofs beside it.")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="poi-validator-") as work:
        options = PartOptions(work=Path(work), key_cache=args.key_cache.expanduser(), quick=args.quick)
        section = _section(measure(options, uids=args.uids, profile=args.profile))
    print(section.body)
    for t in section.targets:
        print(f"- {t.name}: {t.measured} (wanted {t.wanted}) {'met' if t.met else 'MISSED'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
