"""Incentive simulation through the real validator: what each speed and each cheat earns.

``python -m bench.incentives --rounds 50`` builds a subnet in this process and
runs the real ``Validator`` (``neurons/validating/loop.py``: its real
``MinerClient``, ``challenge_miner``, ``ReplayGuard``, scoring, state file and
weight write) for ``--rounds`` rounds against:

* honest miners: the real miner app (``neurons.mining.app.build_miner_app``)
  over ``httpx.ASGITransport``, each behind a network that delays every request
  by its ``--field`` time plus uniform jitter in ``±--jitter`` seconds;
* one miner per ``--cheaters`` kind (``KINDS``): the real miner app with a
  lying prover, or a hostile transport in front of it (unsigned, wrong signer,
  slow drip, gzip bomb, ...), all in process;

and prints, per miner, its kind, mean response time, the spread of its
per-round scores, its final weight (the last weight write's share), and the
outcome its answers got; then Kendall's tau of the honest miners' weights
against their speed, the per-round score gap of equally fast miners, and how
long it took. ``--me 0.8`` adds a miner labelled ``me`` answering in 0.8 s to
the field: its weight is what that speed earns against it.

Proofs are real: EZKL on the cheapest shipped circuit (``wine_mlp``; its
proving key is derived once into ``--keys.cache`` if missing) and the real
``VerifierPool``. To keep the honest miners' times what ``--field`` says (two
shared cores proving six proofs at once would rank them by who got a core), each
honest miner's proof of the input it is about to be sent is made *before* the
round, in ``--provers`` worker processes: one real proof per honest miner per
round. The validator still draws and sends those inputs, and verifies
what comes back, as it does on a live subnet; an honest miner's answer is the
real miner app serving that proof after its delay. Cheaters that need a proof
to tamper with take one spare real proof made at start (of another input; see
``EzklSource``); one proof of the other shipped circuit, made once, is the
``wrong_circuit`` cheat.

The chain is the embedded devnet (``neurons.devnet``: subtensor's rules on SQLite,
reached through the real SDK): every wallet registered, the validator staked and
permitted, each miner's axon announced by its own hotkey; weights in plaintext
with no rate limit, so every round writes, and the final weights are the row the
chain stores.

``simulate`` is the same run with every seam injected: the CI test
(``tests/bench/test_incentives.py``) passes fake proofs and a fake verifier.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import gzip
import logging
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol

import bittensor as bt
import httpx
import numpy as np

from bench.loopback import seeded_wallet
from execution_layer.types import Proof, ProveResult, Verdict
from neurons.chain import Chain, MetagraphView, NeuronInfo
from neurons.mining.app import build_miner_app
from neurons.mining.guard import sign_response
from neurons.shared.proofs import proof_response
from neurons.shared.version import VERSION_KEY
from neurons.validating.challenge import ChallengeCircuit, late_grace
from neurons.validating.client import MinerClient
from neurons.validating.loop import Validator
from neurons.validating.replay_guard import ReplayGuard
from neurons.validating.scoring import ScoringConfig
from neurons.validating.state import StateStore
from protocol import MAX_RESPONSE_BYTES, ROUTE_PROVE, ProofRequest, encode

__all__ = [
    "KINDS",
    "CHEAT_NEEDS",
    "ProofSource",
    "MinerRow",
    "SimResult",
    "simulate",
    "kendall_tau",
    "format_table",
    "main",
]

log = logging.getLogger("bench.incentives")

NETUID = 7
VALIDATOR_UID = 0
# Rounds left out of the per-round score statistics: the default speed window (16) filling.
# Fixed, not the run's cfg.speed_window, so runs under other rules are compared alike.
WARMUP_ROUNDS = 16
Inputs = tuple[float, ...]
Sample = Callable[[ChallengeCircuit, np.random.Generator], np.ndarray]
VerifyFn = Callable[[str, Proof, Sequence[float]], Awaitable[Verdict]]


class ProofSource(Protocol):
    """Where the simulation's proofs come from: real EZKL for the command, fakes in CI.

    ``prepare`` proves each of the given inputs before a round (and returns how
    long that took); ``proof_of`` hands out a prepared proof (KeyError when the
    inputs were not prepared: the honest miners' inputs always are);
    ``any_proof`` is a real proof of ``inputs`` when one was prepared, else the
    freshest prepared proof (of other inputs): what cheaters tamper with;
    ``foreign`` is a proof made with another circuit's keys.
    """

    def prepare(self, circuit_id: str, inputs: Sequence[Inputs]) -> float: ...

    def proof_of(self, circuit_id: str, inputs: Inputs) -> ProveResult: ...

    def any_proof(self, circuit_id: str, inputs: Inputs) -> ProveResult: ...

    def foreign(self, circuit_id: str, inputs: Inputs) -> ProveResult: ...


# --- the chain ----------------------------------------------------------------------


@dataclass
class _Snapshot:
    """The metagraph the simulated miners admit the validator by: the devnet's, read each round
    (a miner's app needs a snapshot it can read without waiting, as the real miner keeps one)."""

    view: MetagraphView | None = None

    def __call__(self) -> MetagraphView:
        assert self.view is not None, "read the metagraph before a round"
        return self.view


async def _devnet_subnet(root: Path, wallets: Sequence[bt.Wallet], axons: dict[int, tuple[str, int]]) -> Chain:
    """A devnet subnet at ``root/chain.sqlite`` (the embedded chain with subtensor's rules): every
    wallet registered in order (uid = index), the validator (uid 0) staked and permitted, each
    miner's axon announced by its own hotkey. Weights in plaintext with no rate limit, so every
    round's write lands and the final weights are the chain's row."""
    from neurons.devnet import admin
    from neurons.devnet.connect import connect_devnet
    from neurons.devnet.runtime import SubnetParams

    state, wallet_path = root / "chain.sqlite", root / "wallets"
    admin.create_subnet(NETUID, state=state, block_time=0.25, params=SubnetParams(
        tempo=100, weights_rate_limit=0, commit_reveal_weights_enabled=False, serving_rate_limit=0,
    ))
    for uid, wallet in enumerate(wallets):
        assert await admin.register(NETUID, wallet.name, "default", state=state, wallet_path=wallet_path) == uid
    await admin.stake(NETUID, wallets[0].name, "default", 1000.0, state=state, wallet_path=wallet_path)
    admin.permit(NETUID, wallets[0].hotkey.ss58_address, state=state)
    chain = await connect_devnet(state)
    for uid, (ip, port) in axons.items():
        served = await chain.serve_axon(wallets[uid], NETUID, ip, port)
        assert served.ok, f"uid {uid}: {served.error}"
    return chain


# --- the network --------------------------------------------------------------------


class _Routes(httpx.AsyncBaseTransport):
    """Sends each request to the transport at its ``ip:port``; none there: connection refused."""

    def __init__(self) -> None:
        self.routes: dict[tuple[str, int], httpx.AsyncBaseTransport] = {}

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        target = self.routes.get((request.url.host, request.url.port or 80))
        if target is None:
            raise httpx.ConnectError(f"connection refused at {request.url.host}", request=request)
        return await target.handle_async_request(request)


class _Delayed(httpx.AsyncBaseTransport):
    """Delays each request by ``latency_s`` plus uniform jitter in ``±jitter_s`` (never below 0)."""

    def __init__(self, inner: httpx.AsyncBaseTransport, latency_s: float, jitter_s: float,
                 rng: np.random.Generator) -> None:
        self.inner, self.latency_s, self.jitter_s, self.rng = inner, latency_s, jitter_s, rng

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        delay = self.latency_s + float(self.rng.uniform(-self.jitter_s, self.jitter_s))
        await asyncio.sleep(max(0.0, delay))
        return await self.inner.handle_async_request(request)


@dataclass(frozen=True)
class _Miner:
    """What a cheat needs to build its miner: its wallet, the chain, the proofs, the circuit."""

    wallet: bt.Wallet
    metagraph: _Snapshot
    source: ProofSource
    circuit: ChallengeCircuit
    stranger: bt.Wallet  # a registered hotkey that is not this miner's
    rng: np.random.Generator
    seen: list[ProveResult]  # proofs this cheater answered with (the replayer's memory)


def _app(m: _Miner, prove: Callable[[str, Inputs], Awaitable[ProveResult]]) -> httpx.ASGITransport:
    return httpx.ASGITransport(build_miner_app(
        wallet=m.wallet, prove=prove, circuits={m.circuit.id}, metagraph=m.metagraph, netuid=NETUID,
        min_stake=0.0, max_queue=64, max_concurrent=64,
    ))


def _honest_prove(m: _Miner) -> Callable[[str, Inputs], Awaitable[ProveResult]]:
    async def prove(circuit_id: str, inputs: Inputs) -> ProveResult:
        return m.source.proof_of(circuit_id, tuple(inputs))
    return prove


def _lying(change: Callable[[_Miner, ProveResult, Inputs], ProveResult]) -> Callable[[_Miner], httpx.AsyncBaseTransport]:
    """A cheat that is the real miner app serving ``change`` of a real proof."""
    def build(m: _Miner) -> httpx.AsyncBaseTransport:
        async def prove(circuit_id: str, inputs: Inputs) -> ProveResult:
            result = change(m, m.source.any_proof(circuit_id, tuple(inputs)), tuple(inputs))
            m.seen.append(result)
            return result
        return _app(m, prove)
    return build


def _with_proof(result: ProveResult, **changes: Any) -> ProveResult:
    return replace(result, proof=replace(result.proof, **changes))


def _flip_felt(felt: str) -> str:
    return ("1" if felt[0] != "1" else "2") + felt[1:]


def _replayer(m: _Miner, genuine: ProveResult, inputs: Inputs) -> ProveResult:
    # Resends the first proof it ever answered with: the replay guard has admitted those bytes.
    return m.seen[0] if m.seen else m.source.any_proof(m.circuit.id, tuple(v + 0.5 for v in inputs))


def _other_inputs(m: _Miner, genuine: ProveResult, inputs: Inputs) -> ProveResult:
    return m.source.any_proof(m.circuit.id, tuple(v + 0.5 for v in inputs))


def _tampered_output(m: _Miner, genuine: ProveResult, inputs: Inputs) -> ProveResult:
    (column,) = genuine.proof.instances
    return _with_proof(genuine, instances=(column[:-1] + (_flip_felt(column[-1]),),))


def _wrong_circuit(m: _Miner, genuine: ProveResult, inputs: Inputs) -> ProveResult:
    return _with_proof(m.source.foreign(m.circuit.id, inputs), circuit_id=m.circuit.id)


def _garbage(m: _Miner, genuine: ProveResult, inputs: Inputs) -> ProveResult:
    return _with_proof(genuine, proof=bytes(m.rng.integers(0, 256, len(genuine.proof.proof), dtype=np.uint8)))


def _wrong_shape(m: _Miner, genuine: ProveResult, inputs: Inputs) -> ProveResult:
    (column,) = genuine.proof.instances
    half = len(column) // 2
    return _with_proof(genuine, instances=(column[:half], column[half:]))


def _padded(m: _Miner, genuine: ProveResult, inputs: Inputs) -> ProveResult:
    # ezkl ignores trailing bytes; the verifier pins the length so a padded copy is not "new".
    return _with_proof(genuine, proof=genuine.proof.proof + b"\x00" * 32)


def _truncated(m: _Miner, genuine: ProveResult, inputs: Inputs) -> ProveResult:
    return _with_proof(genuine, proof=genuine.proof.proof[:-32])


def _extra_instances(m: _Miner, genuine: ProveResult, inputs: Inputs) -> ProveResult:
    (column,) = genuine.proof.instances
    return _with_proof(genuine, instances=(column + (column[-1],),))


def _missing_instances(m: _Miner, genuine: ProveResult, inputs: Inputs) -> ProveResult:
    (column,) = genuine.proof.instances
    return _with_proof(genuine, instances=(column[:-1],))


def _signed(m: _Miner, request: httpx.Request, body: bytes, *, signer: bt.Wallet | None = None,
            nonce: str | None = None) -> dict[str, str]:
    return sign_response(
        signer or m.wallet, route=request.url.path,
        request_nonce=nonce or request.headers["X-Bittensor-Nonce"], body=body,
        receiver=request.headers["X-Bittensor-Hotkey"], nonce_ns=time.time_ns(),
    )


def _genuine_body(m: _Miner, request: httpx.Request, **changes: Any) -> bytes:
    req = ProofRequest.model_validate_json(request.content)
    answer = proof_response(m.source.any_proof(req.circuit_id, tuple(req.inputs)),
                            request_id=req.request_id, queue_s=0.0)
    return encode(answer.model_copy(update=changes))


def _answering(respond: Callable[[_Miner, httpx.Request], Awaitable[httpx.Response]]
               ) -> Callable[[_Miner], httpx.AsyncBaseTransport]:
    def build(m: _Miner) -> httpx.AsyncBaseTransport:
        async def handler(request: httpx.Request) -> httpx.Response:
            if request.url.path != ROUTE_PROVE:  # e.g. the validator asking for capabilities
                return httpx.Response(404, content=b'{"code": "not_found", "message": ""}')
            return await respond(m, request)
        return httpx.MockTransport(handler)
    return build


async def _unsigned(m: _Miner, request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, content=_genuine_body(m, request))


async def _wrong_signer(m: _Miner, request: httpx.Request) -> httpx.Response:
    body = _genuine_body(m, request)
    return httpx.Response(200, content=body, headers=_signed(m, request, body, signer=m.stranger))


async def _misbound(m: _Miner, request: httpx.Request) -> httpx.Response:
    # The miner's own signature, but over another request's nonce: not bound to this request.
    body = _genuine_body(m, request)
    return httpx.Response(200, content=body, headers=_signed(m, request, body, nonce="1" * 32))


async def _contradicting(m: _Miner, request: httpx.Request) -> httpx.Response:
    req = ProofRequest.model_validate_json(request.content)
    genuine = m.source.any_proof(req.circuit_id, tuple(req.inputs))
    body = _genuine_body(m, request, outputs=tuple(v + 1.0 for v in genuine.outputs))
    return httpx.Response(200, content=body, headers=_signed(m, request, body))


def _timeout(m: _Miner) -> float:
    return m.circuit.timeout_s


async def _late(m: _Miner, request: httpx.Request) -> httpx.Response:
    # A genuine, signed answer that lands after the timeout but within the validator's grace.
    await asyncio.sleep(_timeout(m) + late_grace(_timeout(m)) / 2)
    body = _genuine_body(m, request)
    return httpx.Response(200, content=body, headers=_signed(m, request, body))


async def _slow_drip(m: _Miner, request: httpx.Request) -> httpx.Response:
    body = _genuine_body(m, request)
    step = max(1, len(body) // 40)
    pause = 1.5 * _timeout(m) / 40

    async def drip() -> Any:
        for at in range(0, len(body), step):
            await asyncio.sleep(pause)
            yield body[at : at + step]

    return httpx.Response(200, content=drip(), headers=_signed(m, request, body))


async def _oversized(m: _Miner, request: httpx.Request) -> httpx.Response:
    body = _genuine_body(m, request)
    body = body[:-1] + b"," + b" " * (MAX_RESPONSE_BYTES + 1) + b"}"
    return httpx.Response(200, content=body, headers=_signed(m, request, body))


@functools.cache
def _bomb() -> bytes:
    return gzip.compress(b"\x00" * (64 * 1024 * 1024), compresslevel=9)  # 64 MiB in ~64 KiB


async def _gzip_bomb(m: _Miner, request: httpx.Request) -> httpx.Response:
    headers = {**_signed(m, request, _bomb()), "Content-Encoding": "gzip"}

    async def wire() -> Any:
        # Streamed: httpx.Response(content=bytes) would inflate the bomb here, in the "miner".
        yield _bomb()

    return httpx.Response(200, content=wire(), headers=headers)


async def _redirect(m: _Miner, request: httpx.Request) -> httpx.Response:
    return httpx.Response(307, headers={"Location": "http://10.9.9.9:8091/prove"})


async def _silent(m: _Miner, request: httpx.Request) -> httpx.Response:
    await asyncio.Event().wait()
    raise AssertionError("unreachable")


# Every dishonest kind: name -> builds the miner's transport.
KINDS: dict[str, Callable[[_Miner], httpx.AsyncBaseTransport]] = {
    "replayer": _lying(_replayer),
    "other_inputs": _lying(_other_inputs),
    "tampered_output": _lying(_tampered_output),
    "wrong_circuit": _lying(_wrong_circuit),
    "garbage": _lying(_garbage),
    "wrong_shape": _lying(_wrong_shape),
    "padded": _lying(_padded),
    "truncated": _lying(_truncated),
    "extra_instances": _lying(_extra_instances),
    "missing_instances": _lying(_missing_instances),
    "unsigned": _answering(_unsigned),
    "wrong_signer": _answering(_wrong_signer),
    "misbound_signature": _answering(_misbound),
    "late": _answering(_late),
    "slow_drip": _answering(_slow_drip),
    "oversized": _answering(_oversized),
    "gzip_bomb": _answering(_gzip_bomb),
    "redirect": _answering(_redirect),
    "silent": _answering(_silent),
    "contradicting_outputs": _answering(_contradicting),
}
# What each cheat tampers with, for the table ("genuine" ones tamper with a real proof).
CHEAT_NEEDS = {k: "real proof" for k in (
    "tampered_output", "padded", "truncated", "extra_instances", "missing_instances", "late",
    "contradicting_outputs", "unsigned", "wrong_signer", "misbound_signature", "slow_drip", "oversized",
    "other_inputs", "replayer", "wrong_shape", "garbage",
)} | {"wrong_circuit": "other circuit's proof", "gzip_bomb": "none", "redirect": "none", "silent": "none"}


# --- the run ------------------------------------------------------------------------


@dataclass(frozen=True)
class MinerRow:
    """One miner's line of the table."""

    uid: int
    kind: str  # "honest", "me" or a KINDS name
    latency_s: float | None  # the honest miners' added delay
    mean_response_s: float | None  # over its verified answers
    score_mean: float  # its per-round scores past the warm-up (rounds that scored it)
    score_spread: float  # their standard deviation
    weight: float  # its share of the last weight write
    outcome: str  # the most common outcome of its answers


@dataclass(frozen=True)
class SimResult:
    """A finished run: the table's rows, the per-round scores, and the run's own numbers."""

    rows: tuple[MinerRow, ...]
    scores: dict[int, tuple[float | None, ...]]  # per uid, one score per round (None: not scored)
    rounds: int
    warmup: int  # rounds left out of the score statistics (the speed window filling)
    tau: float | None  # Kendall's tau of honest weights against speed (None: < 2 honest)
    twin_gap_mean: float | None  # mean per-round |score gap| of equally fast honest miners
    twin_gap_max: float | None
    twin_weight_gap: float | None  # their final weights' relative difference
    elapsed_s: float
    proving_s: float
    jitter_s: float


def kendall_tau(xs: Sequence[float], ys: Sequence[float]) -> float:
    """Kendall's tau-a of two equal-length sequences: (concordant - discordant) / pairs.

    Pairs tied in ``xs`` are left out (equally fast miners have no order to
    match); a pair tied in ``ys`` only counts as discordant. 1 is the same
    order, -1 the reverse.
    """
    concordant = discordant = 0
    for i in range(len(xs)):
        for j in range(i + 1, len(xs)):
            if xs[i] == xs[j]:
                continue
            s = (xs[i] - xs[j]) * (ys[i] - ys[j])
            concordant += s > 0
            discordant += s <= 0
    pairs = concordant + discordant
    return (concordant - discordant) / pairs if pairs else 1.0


def _current_uid() -> int:
    """The uid the validator is challenging in the running task.

    The validator's ``sample`` hook is not told whom the input is for, but the
    honest miners' proofs must be made for their inputs before the round (see
    the module docstring). Each challenge runs in its own task whose coroutine
    is the validator's per-miner ``one(neuron)``: its ``neuron`` is read from
    there. Fails loudly if the validator is ever restructured.
    """
    task = asyncio.current_task()
    frame = getattr(task.get_coro(), "cr_frame", None) if task is not None else None
    neuron = frame.f_locals.get("neuron") if frame is not None else None
    if not isinstance(neuron, NeuronInfo):
        raise RuntimeError("bench.incentives: cannot tell which miner the validator is sampling for; "
                           "Validator.run_round no longer runs one task per miner")
    return neuron.uid


class _PreparedSampler:
    """The validator's ``sample``: each honest uid's input is drawn and proved before the round."""

    def __init__(self, draw: Sample, source: ProofSource, honest: set[int]) -> None:
        self.draw, self.source, self.honest = draw, source, honest
        self.ready: dict[int, np.ndarray] = {}

    def prepare(self, circuit: ChallengeCircuit, rng: np.random.Generator) -> float:
        self.ready = {uid: self.draw(circuit, rng) for uid in sorted(self.honest)}
        return self.source.prepare(circuit.id, [_flat(x) for x in self.ready.values()])

    def __call__(self, circuit: ChallengeCircuit, rng: np.random.Generator) -> np.ndarray:
        uid = _current_uid()
        if uid in self.honest:
            # A second draw for the same uid in one round (a repeated input) would find none:
            # the validator never asks one miner twice per round.
            return self.ready.pop(uid)
        return self.draw(circuit, rng)


def _flat(x: np.ndarray) -> Inputs:
    return tuple(float(v) for v in np.asarray(x).reshape(-1))


async def simulate(
    *,
    field: Sequence[float],
    cheaters: Sequence[str],
    rounds: int,
    jitter_s: float,
    circuit: ChallengeCircuit,
    source: ProofSource,
    verify: VerifyFn,
    sample: Sample,
    root: Path,
    me: float | None = None,
    seed: int = 0,
    cfg: ScoringConfig = ScoringConfig(),
    progress: Callable[[int, float], None] | None = None,
) -> SimResult:
    """Run ``rounds`` rounds of the real validator over the honest ``field`` (+ ``me``) and ``cheaters``.

    Uids: 0 is the validator, then the honest miners in ``field`` order, then
    ``me``, then one per cheater kind. Every round: the honest miners' inputs
    are drawn and proved (``source.prepare``; timed as ``proving_s``), then
    ``Validator.run_round`` challenges everyone at once, scores, saves its state
    under ``root`` and writes weights to the devnet. Statistics of
    per-round scores skip the first ``WARMUP_ROUNDS`` (``warmup``: the
    default speed window filling). ``progress(round, seconds)`` after each round.
    """
    unknown = sorted(set(cheaters) - set(KINDS))
    if unknown:
        raise ValueError(f"unknown cheater kinds: {', '.join(unknown)} (known: {', '.join(KINDS)})")
    rng = np.random.default_rng(seed)
    speeds = list(field) + ([me] if me is not None else [])
    kinds = ["honest"] * len(field) + (["me"] if me is not None else []) + list(cheaters)
    wallets = [seeded_wallet(root / "wallets", f"w{uid}", seed * 1000 + uid, label="incentives")
               for uid in range(len(kinds) + 1)]
    stranger = seeded_wallet(root / "wallets", "stranger", seed * 1000 + 999, label="incentives")
    axons = {i + 1: (f"10.0.1.{i + 1}", 8091) for i in range(len(kinds))}
    chain = await _devnet_subnet(root, wallets, axons)
    snapshot = _Snapshot()
    network = _Routes()
    for i, kind in enumerate(kinds):
        uid = i + 1
        axon = axons[uid]
        m = _Miner(wallets[uid], snapshot, source, circuit, stranger, np.random.default_rng(seed + uid), [])
        if kind in ("honest", "me"):
            network.routes[axon] = _Delayed(_app(m, _honest_prove(m)), speeds[i], jitter_s,
                                            np.random.default_rng(seed * 7919 + uid))
        else:
            network.routes[axon] = KINDS[kind](m)
    if "gzip_bomb" in cheaters:
        _bomb()  # made before the first round, not inside it
    honest_uids = {i + 1 for i, k in enumerate(kinds) if k in ("honest", "me")}
    sampler = _PreparedSampler(sample, source, honest_uids)
    client = MinerClient(wallets[0], transport=network, timeout=circuit.timeout_s + late_grace(circuit.timeout_s) + 1)
    validator = Validator(
        wallet=wallets[0], chain=chain, netuid=NETUID, circuits=[circuit], client=client, verify=verify,
        store=StateStore(root / "state" / "state.json"), guard=ReplayGuard(), version_key=VERSION_KEY,
        sample=sampler, rng=np.random.default_rng(seed + 1), cfg=cfg, allow_private_axons=True,
    )
    # None: the round did not score the uid (its answer was not charged: a validator error).
    per_round: dict[int, list[float | None]] = {uid: [] for uid in range(1, len(kinds) + 1)}
    times: dict[int, list[float]] = {uid: [] for uid in per_round}
    outcomes: dict[int, Counter[str]] = {uid: Counter() for uid in per_round}
    proving_s = 0.0
    started = time.perf_counter()
    try:
        for index in range(1, rounds + 1):
            proving_s += sampler.prepare(circuit, rng)
            snapshot.view = await chain.metagraph(NETUID)
            report = await validator.run_round()
            for r in report.records:
                outcomes[r.uid][r.outcome.value] += 1
                if r.verified and r.response_s is not None:
                    times[r.uid].append(r.response_s)
            for uid in per_round:
                per_round[uid].append(report.scores.get(uid))
            if progress is not None:
                progress(index, time.perf_counter() - started)
        shares = await chain.weights_of(NETUID, VALIDATOR_UID)  # the row the chain stores
    finally:
        await client.aclose()
        await chain.close()
    elapsed = time.perf_counter() - started
    total = sum(shares.values())
    weights = {uid: shares.get(uid, 0.0) / total if total else 0.0 for uid in per_round}
    warmup = min(WARMUP_ROUNDS, max(0, rounds - 1))
    rows = []
    for i, kind in enumerate(kinds):
        uid = i + 1
        tail = [v for v in per_round[uid][warmup:] if v is not None]
        rows.append(MinerRow(
            uid=uid, kind=kind, latency_s=speeds[i] if i < len(speeds) else None,
            mean_response_s=statistics.fmean(times[uid]) if times[uid] else None,
            score_mean=statistics.fmean(tail) if tail else 0.0,
            score_spread=statistics.pstdev(tail) if len(tail) > 1 else 0.0,
            weight=weights[uid], outcome=outcomes[uid].most_common(1)[0][0] if outcomes[uid] else "-",
        ))
    honest_rows = [r for r in rows if r.kind in ("honest", "me")]
    tau = kendall_tau([-(r.latency_s or 0.0) for r in honest_rows], [r.weight for r in honest_rows]) \
        if len(honest_rows) > 1 else None
    gaps: list[float] = []
    weight_gaps: list[float] = []
    for a in honest_rows:
        for b in honest_rows:
            if a.uid < b.uid and a.latency_s == b.latency_s:
                gaps += [abs(x - y) for x, y in zip(per_round[a.uid][warmup:], per_round[b.uid][warmup:])
                         if x is not None and y is not None]
                top = max(a.weight, b.weight)
                weight_gaps.append(abs(a.weight - b.weight) / top if top else 0.0)
    return SimResult(
        rows=tuple(rows), scores={u: tuple(v) for u, v in per_round.items()}, rounds=rounds, warmup=warmup,
        tau=tau, twin_gap_mean=statistics.fmean(gaps) if gaps else None, twin_gap_max=max(gaps) if gaps else None,
        twin_weight_gap=max(weight_gaps) if weight_gaps else None, elapsed_s=elapsed, proving_s=proving_s,
        jitter_s=jitter_s,
    )


def format_table(result: SimResult) -> str:
    """The run as a Markdown table, then its summary lines."""
    lines = [
        "| uid | kind | added delay s | mean response s | round score (mean ± sd) | final weight | outcome |",
        "|---:|---|---:|---:|---:|---:|---|",
    ]
    for r in result.rows:
        delay = f"{r.latency_s:.3f}" if r.latency_s is not None else ""
        mean = f"{r.mean_response_s:.3f}" if r.mean_response_s is not None else "-"
        lines.append(f"| {r.uid} | {r.kind} | {delay} | {mean} | {r.score_mean:.3f} ± {r.score_spread:.3f} "
                     f"| {r.weight:.4f} | {r.outcome} |")
    lines.append("")
    lines.append(f"rounds {result.rounds} (score statistics skip the first {result.warmup}), "
                 f"jitter ±{result.jitter_s * 1000:.0f} ms")
    if result.tau is not None:
        lines.append(f"Kendall tau (honest weights vs speed): {result.tau:.3f}")
    if result.twin_gap_mean is not None:
        lines.append(f"equally fast miners: per-round score gap mean {result.twin_gap_mean:.3f}, "
                     f"max {result.twin_gap_max:.3f}; final weights {100 * (result.twin_weight_gap or 0):.1f}% apart")
    cheats = [r for r in result.rows if r.kind in KINDS]
    if cheats:
        lines.append(f"cheaters at weight 0: {sum(r.weight == 0.0 for r in cheats)}/{len(cheats)}")
    lines.append(f"took {result.elapsed_s:.1f} s, of which proving {result.proving_s:.1f} s "
                 f"({result.proving_s / max(result.rounds, 1):.2f} s per round)")
    return "\n".join(lines)


# --- the command: real EZKL ---------------------------------------------------------


@dataclass(frozen=True)
class _TimedCircuit:
    """A shipped circuit with the simulation's timeout."""

    circuit: Any
    timeout_s: float

    @property
    def id(self) -> str:
        return str(self.circuit.id)

    @property
    def name(self) -> str:
        return str(self.circuit.name)

    @property
    def spec(self) -> Any:
        return self.circuit.spec

    @property
    def samples_path(self) -> Path:
        return Path(self.circuit.samples_path)


_WORKER: Any = None


def _worker_init(key_cache: str | None) -> None:
    global _WORKER
    from execution_layer import CircuitRegistry, EzklProver, quiet_native_logs

    quiet_native_logs()
    registry = CircuitRegistry.load()
    _WORKER = EzklProver(registry, key_cache=Path(key_cache) if key_cache else None)


def _worker_prove(circuit_id: str, inputs: Inputs) -> ProveResult:
    return _WORKER.prove(circuit_id, list(inputs))


class EzklSource:
    """Real proofs: ``prepare`` proves in ``workers`` spawned processes (EZKL on the given keys).

    ``any_proof`` is ``spare``, one real proof of another input made at start, never
    an honest miner's proof of this round: a cheater answering first with a copy of
    an honest proof would have the replay guard refuse the honest miner's own (that
    front-running is the replayer's business, not every cheater's). So in the command
    the proof-carrying cheats after the first are caught as replays or by the input
    binding; the CI test gives each cheat a proof of its own input, so each one reaches
    the check it is named after.
    """

    def __init__(self, *, workers: int, key_cache: Path | None, spare: ProveResult,
                 foreign: ProveResult | None) -> None:
        import multiprocessing

        self._pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                                         initializer=_worker_init, initargs=(str(key_cache) if key_cache else None,))
        self._made: dict[Inputs, ProveResult] = {}
        self._spare = spare
        self._foreign = foreign or spare

    def prepare(self, circuit_id: str, inputs: Sequence[Inputs]) -> float:
        started = time.perf_counter()
        results = list(self._pool.map(_worker_prove, [circuit_id] * len(inputs), inputs))
        self._made = dict(zip(inputs, results))  # one round's proofs: older ones are not needed
        return time.perf_counter() - started

    def proof_of(self, circuit_id: str, inputs: Inputs) -> ProveResult:
        return self._made[tuple(inputs)]

    def any_proof(self, circuit_id: str, inputs: Inputs) -> ProveResult:
        return self._spare

    def foreign(self, circuit_id: str, inputs: Inputs) -> ProveResult:
        return self._foreign

    def close(self) -> None:
        self._pool.shutdown(cancel_futures=True)


def _floats(text: str) -> list[float]:
    return [float(v) for v in text.split(",") if v.strip()]


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m bench.incentives",
        description="Run the real validator against honest miners of given speeds and every kind of "
                    "cheater, with real EZKL proofs, and print what each earns (docs/scoring.md).",
    )
    p.add_argument("--rounds", type=int, default=50, help="validator rounds (default 50)")
    p.add_argument("--field", "--latencies", dest="field", type=_floats, default=[0.1, 0.1, 0.2, 0.3, 0.4, 0.5],
                   help="honest miners' response times in seconds, comma-separated; equal values are "
                        "equally fast miners (default 0.1,0.1,0.2,0.3,0.4,0.5)")
    p.add_argument("--me", type=float, default=None,
                   help="add a miner labelled 'me' with this mean response time (s): its weight is what "
                        "that speed earns against --field")
    p.add_argument("--jitter", type=float, default=0.02,
                   help="each honest answer is delayed by its time plus uniform jitter in ± this (s; default 0.02)")
    p.add_argument("--cheaters", default="all",
                   help=f"comma-separated cheater kinds, 'all' or 'none' (kinds: {', '.join(KINDS)})")
    p.add_argument("--timeout", type=float, default=None,
                   help="the circuit's timeout for the run (s; default: twice the slowest honest time, at least 1)")
    p.add_argument("--provers", type=int, default=2, help="worker processes proving the honest answers (default 2)")
    p.add_argument("--keys.cache", dest="key_cache", type=Path, default=None,
                   help="proving-key cache (default: $POI_KEY_CACHE or ~/.cache/proof-of-inference/keys)")
    p.add_argument("--seed", type=int, default=0)
    return p


async def _run(args: argparse.Namespace) -> SimResult:
    from execution_layer import CircuitRegistry, EzklProver, quiet_native_logs
    from neurons.validating.challenge import InputSampler
    from neurons.validating.verifier_pool import VerifierPool

    quiet_native_logs()
    cheaters = list(KINDS) if args.cheaters == "all" else [] if args.cheaters == "none" else \
        [c.strip() for c in args.cheaters.split(",") if c.strip()]
    speeds = list(args.field) + ([args.me] if args.me is not None else [])
    timeout = args.timeout or max(1.0, 2 * max(speeds, default=0.5))
    registry = CircuitRegistry.load()
    circuit = registry.by_name("wine_mlp")  # the cheapest shipped circuit
    other = next(c for c in registry if c.id != circuit.id)
    started = time.perf_counter()
    prover = EzklProver(registry, key_cache=args.key_cache)
    prover.ensure_keys(circuit.id)
    spare = prover.prove(circuit.id, list(_flat(InputSampler()(circuit, np.random.default_rng(args.seed + 5)))))
    foreign = None
    if "wrong_circuit" in cheaters:
        prover.ensure_keys(other.id)
        foreign = prover.prove(other.id, list(_flat(InputSampler()(other, np.random.default_rng(args.seed)))))
    print(f"keys, a spare proof and the other circuit's proof ready in {time.perf_counter() - started:.1f} s",
          file=sys.stderr)
    source = EzklSource(workers=args.provers, key_cache=args.key_cache, spare=spare, foreign=foreign)
    verifier = VerifierPool(workers=1)
    await verifier.warm_up()
    try:
        with tempfile.TemporaryDirectory(prefix="poi-incentives-") as root:
            return await simulate(
                field=args.field, me=args.me, cheaters=cheaters, rounds=args.rounds, jitter_s=args.jitter,
                circuit=_TimedCircuit(circuit, timeout), source=source, verify=verifier.verify,
                sample=InputSampler(), root=Path(root), seed=args.seed,
                progress=lambda i, s: print(f"round {i}/{args.rounds} done at {s:.0f} s", file=sys.stderr),
            )
    finally:
        source.close()
        await verifier.aclose()


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("validator").setLevel(logging.ERROR)  # every cheat is a WARNING line otherwise
    result = asyncio.run(_run(args))
    print(" ".join(["python -m bench.incentives", *(argv if argv is not None else sys.argv[1:])]))
    print(format_table(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
