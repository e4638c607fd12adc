"""The validator API's added latency over a direct challenge of the same miner (not a test).

``python bench/api_latency.py [--circuit wine_mlp] [--rounds 20]``

One process, everything real but the chain: a miner app over TCP on loopback proving with
EZKL (keys from the key cache, derived once if missing), the validator's ``MinerClient``,
``CapabilityBook`` and ``VerifierPool`` (one worker process), and the validator's API app
over TCP on loopback with an API key. Each round does, interleaved (the order alternates,
so neither side always runs on a warmer machine):

- direct: ``challenge.ask_miner`` on a fresh input: sign, send, prove, verify (what a
  challenge costs, measured around the call);
- API: an ``httpx`` client posts the same kind of input to ``/v1/infer``: authentication,
  limits, dispatch, the same ``ask_miner``, the receipt, the JSON answer (measured by the
  client, request sent to body read).

It prints both medians, the ratio (target <= 1.10) and the added milliseconds. The miner,
the API and the client share one event loop and two cores, as a small validator's would;
run it on a quiet machine.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import bittensor as bt  # noqa: E402
import httpx  # noqa: E402
import numpy as np  # noqa: E402

from bench.loopback import neuron_info, seeded_wallet  # noqa: E402
from execution_layer import DEFAULT_KEY_CACHE, CircuitRegistry, EzklProver  # noqa: E402
from models.sampling import Sampler  # noqa: E402
from neurons.chain import MetagraphView, NeuronInfo  # noqa: E402
from neurons.mining.app import build_miner_app  # noqa: E402
from neurons.shared.http_server import bind, serving  # noqa: E402
from neurons.validating.api import build_api_app  # noqa: E402
from neurons.validating.api_auth import ApiAuthenticator  # noqa: E402
from neurons.validating.api_keys import ApiKeys, key_digest, new_key  # noqa: E402
from neurons.validating.api_limits import CallerLimits, LimitsConfig  # noqa: E402
from neurons.validating.capabilities import CapabilityBook  # noqa: E402
from neurons.validating.challenge import ask_miner  # noqa: E402
from neurons.validating.client import MinerClient  # noqa: E402
from neurons.validating.dispatch import Dispatcher  # noqa: E402
from neurons.validating.replay_guard import ReplayGuard  # noqa: E402
from neurons.validating.slots import MinerSlots  # noqa: E402
from neurons.validating.verifier_pool import VerifierPool  # noqa: E402

NETUID = 2
HOST = "127.0.0.1"


class _Directory:
    def __init__(self, view: MetagraphView) -> None:
        self.metagraph: MetagraphView | None = view

    def score_of(self, neuron: NeuronInfo) -> float:
        return 1.0


async def run(circuit_name: str, rounds: int, warmup: int, key_cache: Path) -> dict[str, float]:
    registry = CircuitRegistry.load()
    circuit = registry.by_name(circuit_name)
    prover = EzklProver(registry, key_cache=key_cache)
    prover.ensure_keys(circuit.id)
    sampler = Sampler.load(circuit.samples_path, circuit.spec)
    rng = np.random.default_rng(7)

    def fresh() -> list[float]:
        return [float(v) for v in np.asarray(sampler.draw(rng)).reshape(-1)]

    with tempfile.TemporaryDirectory() as tmp:
        validator, miner = seeded_wallet(Path(tmp), "validator", 1), seeded_wallet(Path(tmp), "miner", 2)
        miner_port_sock = bind(HOST, 0)
        api_sock = bind(HOST, 0, flag="--api.port")
        miner_axon = (HOST, miner_port_sock.getsockname()[1])
        api_url = f"http://{HOST}:{api_sock.getsockname()[1]}/v1/infer"
        view = MetagraphView(NETUID, 100, 360, (
            neuron_info(0, validator.hotkey.ss58_address, validator=True),
            neuron_info(1, miner.hotkey.ss58_address, validator=False, axon=miner_axon),
        ))

        async def prove(circuit_id: str, inputs: tuple[float, ...]):  # type: ignore[no-untyped-def]
            return await asyncio.to_thread(prover.prove, circuit_id, inputs)

        miner_app = build_miner_app(wallet=miner, prove=prove, circuits={circuit.id}, metagraph=lambda: view,
                                    netuid=NETUID, min_stake=0.0, max_queue=4, check_inputs=lambda c, v: circuit.check_inputs(v))
        verifier = VerifierPool(workers=1)
        await verifier.warm_up()
        key = new_key()
        client = MinerClient(validator)
        capabilities = CapabilityBook(client)
        directory = _Directory(view)
        dispatcher = Dispatcher(
            hotkey=validator.hotkey.ss58_address, directory=directory, capabilities=capabilities, client=client,
            verify=verifier.verify, slots=MinerSlots(), signer=bt.resolve_signer(validator, role="hotkey"),
            allow_private_axons=True,
        )
        api_app = build_api_app(
            circuits=[circuit], answer=dispatcher.answer,
            auth=ApiAuthenticator(hotkey=validator.hotkey.ss58_address, keys=ApiKeys({key_digest(key): "bench"})),
            limits=CallerLimits(LimitsConfig(per_minute=10_000, burst=1000, max_concurrent=10)),
        )
        guard = ReplayGuard()
        direct: list[float] = []
        api: list[float] = []
        try:
            async with serving(miner_app, miner_port_sock), serving(api_app, api_sock), \
                    httpx.AsyncClient(timeout=60, trust_env=False) as http:
                capabilities.served(view.neurons[1])
                await capabilities.settle()

                async def one_direct() -> float:
                    started = time.perf_counter()
                    asked = await ask_miner(neuron=view.neurons[1], circuit=circuit, inputs=fresh(), client=client,
                                            verify=verifier.verify, guard=guard)
                    took = time.perf_counter() - started
                    if not asked.record.verified:
                        raise RuntimeError(f"direct challenge failed: {asked.record.reason}")
                    return took

                async def one_api() -> float:
                    body = {"circuit_id": circuit.id, "inputs": fresh(), "deadline_s": 30.0}
                    started = time.perf_counter()
                    response = await http.post(api_url, json=body, headers={"Authorization": f"Bearer {key}"})
                    took = time.perf_counter() - started
                    if response.status_code != 200:
                        raise RuntimeError(f"API answered {response.status_code}: {response.text}")
                    return took

                for _ in range(warmup):
                    await one_direct()
                    await one_api()
                for i in range(rounds):
                    if i % 2 == 0:
                        direct.append(await one_direct())
                        api.append(await one_api())
                    else:
                        api.append(await one_api())
                        direct.append(await one_direct())
        finally:
            await capabilities.aclose()
            await client.aclose()
            await verifier.aclose()
    d, a = statistics.median(direct), statistics.median(api)
    return {"direct_s": d, "api_s": a, "ratio": a / d, "added_ms": (a - d) * 1000}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="bench/api_latency.py",
        description="The validator API's added latency over a direct challenge of the same miner, "
        "measured side by side in one run (target: ratio <= 1.10).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--circuit", default="wine_mlp", help="Shipped circuit to prove (its folder name).")
    p.add_argument("--rounds", type=int, default=20, help="Measured pairs (one direct, one API each).")
    p.add_argument("--warmup", type=int, default=2, help="Unmeasured pairs first (worker start, key load).")
    p.add_argument("--keys.cache", dest="key_cache", type=Path, default=DEFAULT_KEY_CACHE,
                   help="Proving-key cache (the key is derived there once if missing).")
    args = p.parse_args(argv)
    if args.rounds < 1 or args.warmup < 0:
        p.error("--rounds must be at least 1 and --warmup at least 0")
    r = asyncio.run(run(args.circuit, args.rounds, args.warmup, args.key_cache))
    print(f"{args.circuit}: {args.rounds} pairs, medians: direct challenge {r['direct_s'] * 1000:.1f} ms, "
          f"API {r['api_s'] * 1000:.1f} ms; ratio {r['ratio']:.3f} (target <= 1.10), added {r['added_ms']:.1f} ms")
    return 0 if r["ratio"] <= 1.10 else 1


if __name__ == "__main__":
    sys.exit(main())
