"""Fakes for tests only: wallets, metagraph snapshots, provers, observers, a chain.

Nothing here is imported by product code. ``FakeProver`` runs inside spawned
worker processes, so this module keeps its imports light.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import socket
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

import httpx

from execution_layer.types import CircuitMismatch, Proof, ProveResult, ProvingFailed, Verdict
from neurons.chain import MetagraphView, NeuronInfo, WriteResult

if TYPE_CHECKING:
    import bittensor as bt
    import numpy as np

CIRCUIT_A = "a" * 64
CIRCUIT_B = "b" * 64


def make_wallet(root: Path, name: str, seed: int) -> bt.Wallet:
    """A password-less wallet in ``root`` whose keys derive from ``seed`` (deterministic)."""
    import bittensor as bt  # here, so prover-pool workers importing this module stay light

    cold = hashlib.sha256(f"cold-{seed}".encode()).hexdigest()
    hot = hashlib.sha256(f"hot-{seed}".encode()).hexdigest()
    bt.wallets.regen_coldkey(seed="0x" + cold, name=name, path=str(root), use_password=False)
    return bt.wallets.regen_hotkey(seed="0x" + hot, name=name, hotkey="default", path=str(root))


def hotkey_of(wallet: bt.Wallet) -> str:
    return wallet.hotkey.ss58_address


def neuron(uid: int, hotkey: str, *, stake: float = 1000.0, permit: bool = True) -> NeuronInfo:
    return NeuronInfo(
        uid=uid,
        hotkey=hotkey,
        coldkey="5" + "C" * 47,
        stake=stake,
        validator_permit=permit,
        axon=None,
        incentive=0.0,
        last_update=0,
    )


def metagraph_of(
    netuid: int, neurons: Iterable[NeuronInfo], block: int = 100, tempo: int = 360
) -> MetagraphView:
    return MetagraphView(netuid=netuid, block=block, tempo=tempo, neurons=tuple(neurons))


def fake_result(circuit_id: str, inputs: Sequence[float]) -> ProveResult:
    """A deterministic, well-formed (but not cryptographically valid) proof of ``inputs``."""
    outputs = (float(sum(inputs)),)
    digest = hashlib.sha256(repr((circuit_id, tuple(inputs))).encode()).digest()
    felts = tuple(hashlib.sha256(bytes([i]) + digest).hexdigest() for i in range(len(inputs) + 1))
    return ProveResult(
        proof=Proof(circuit_id=circuit_id, instances=(felts,), proof=digest * 4),
        outputs=outputs,
        witness_s=0.01,
        prove_s=0.02,
    )


class FakeProver:
    """A picklable prover for the process pool. Extra methods misbehave on purpose."""

    def __init__(self, label: str = "fake") -> None:
        self.label = label
        self.pid = os.getpid()
        self.calls = 0

    def prove(self, circuit_id: str, inputs: Sequence[float]) -> ProveResult:
        self.calls += 1
        if circuit_id == CIRCUIT_B:
            raise ProvingFailed(f"{self.label} cannot prove circuit B")
        return fake_result(circuit_id, inputs)

    def verify(self, proof: Proof) -> bool:
        return proof.circuit_id == CIRCUIT_A

    def whoami(self) -> tuple[str, int, int]:
        """(label, pid where built, calls so far): shows the object persists per process."""
        self.calls += 1
        return self.label, self.pid, self.calls

    def sleep(self, seconds: float) -> float:
        time.sleep(seconds)
        return seconds

    def crash(self) -> None:
        os._exit(3)

    def unpicklable_error(self) -> None:
        raise CircuitMismatch("model.onnx", "0" * 64, "1" * 64)


def make_fake_prover() -> FakeProver:
    """Module-level (picklable) factory."""
    return FakeProver("made")


def exit_worker(_worker_object: object) -> None:
    """A module-level function for ``WorkerPool.run`` that kills the worker process."""
    os._exit(3)


def worker_identity(prover: FakeProver) -> tuple[str, int]:
    """A module-level function for ``WorkerPool.run``: (label, pid) of the worker's prover."""
    return prover.label, os.getpid()


@dataclass
class AsyncFakeProver:
    """The miner app's ``prove`` callable. Blocks on ``gate`` when set; raises ``error`` if set."""

    gate: asyncio.Event | None = None
    error: BaseException | None = None
    delay: float = 0.0
    calls: list[tuple[str, tuple[float, ...]]] = field(default_factory=list)
    started: asyncio.Event = field(default_factory=asyncio.Event)
    result_override: ProveResult | None = None

    async def __call__(self, circuit_id: str, inputs: tuple[float, ...]) -> ProveResult:
        self.calls.append((circuit_id, tuple(inputs)))
        self.started.set()
        if self.gate is not None:
            await self.gate.wait()
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.error is not None:
            raise self.error
        if self.result_override is not None:
            return self.result_override
        return fake_result(circuit_id, inputs)


@dataclass
class RecordingObserver:
    """Records the miner app's metrics events."""

    requests: list[tuple[str, str, int]] = field(default_factory=list)
    proofs: list[tuple[str, float, bool]] = field(default_factory=list)
    depths: list[tuple[int, int]] = field(default_factory=list)

    def request_finished(self, route: str, outcome: str, status: int) -> None:
        self.requests.append((route, outcome, status))

    def prove_finished(self, circuit_id: str, seconds: float, ok: bool) -> None:
        self.proofs.append((circuit_id, seconds, ok))

    def queue_depth(self, running: int, waiting: int) -> None:
        self.depths.append((running, waiting))


NETUID = 7
MIN_STAKE = 100.0


@dataclass(frozen=True)
class Cast:
    """The wallets of a test network and the metagraph they are registered in.

    ``validator`` may call the miner; ``no_permit`` and ``poor`` are registered but
    refused by the policy; ``stranger`` is not registered at all.
    """

    miner: bt.Wallet
    validator: bt.Wallet
    no_permit: bt.Wallet
    poor: bt.Wallet
    stranger: bt.Wallet

    def metagraph(self) -> MetagraphView:
        return metagraph_of(
            NETUID,
            [
                neuron(0, hotkey_of(self.miner), stake=0.0, permit=False),
                neuron(1, hotkey_of(self.validator), stake=MIN_STAKE * 10),
                neuron(2, hotkey_of(self.no_permit), stake=MIN_STAKE * 10, permit=False),
                neuron(3, hotkey_of(self.poor), stake=MIN_STAKE / 2),
            ],
        )


def make_cast(root: Path) -> Cast:
    names = ("miner", "validator", "no_permit", "poor", "stranger")
    return Cast(*(make_wallet(root, name, seed) for seed, name in enumerate(names)))


def broken_factory() -> FakeProver:
    """A factory that fails in the worker, as a prover with missing artifacts would."""
    raise ProvingFailed("circuit artifacts missing")


# --- the validator's outside world ------------------------------------------------


def serving(info: NeuronInfo, axon: tuple[str, int] | None) -> NeuronInfo:
    """``info`` with ``axon`` announced (None: not serving)."""
    return replace(info, axon=axon)


@dataclass
class FakeChain:
    """An in-memory ``ChainAccess`` for one subnet.

    ``neurons`` is the metagraph, by uid; tests edit it between rounds.
    ``submit`` refuses a write as the SDK's preflight does (``rate_limited``)
    while the signer's ``last_update`` is set and fewer than ``rate_limit``
    blocks old; any other intent is appended to ``submitted`` and, unless
    ``weights_error`` is set (a chain rejection), stamps the signer's
    ``last_update`` with the current block (as the chain does).
    ``fail_reads`` makes that many next reads raise ``ChainUnreachable``;
    ``fail_ops`` names operations that always fail while present (a write in
    it returns the failed result a lost connection gives); ``hang_ops``
    names operations that never answer (a stalled connection), counting
    callers in ``hung``.
    """

    netuid: int
    neurons: dict[int, NeuronInfo]
    current_block: int = 1000
    rate_limit: int = 100
    tempo_blocks: int = 360
    weights_error: str | None = None
    fail_reads: int = 0
    fail_ops: set[str] = field(default_factory=set)
    hang_ops: set[str] = field(default_factory=set)
    hung: int = 0
    submitted: list[bt.SetWeights] = field(default_factory=list)
    axon_calls: list[tuple[str, str, int]] = field(default_factory=list)
    closed: bool = False

    async def _read(self, op: str) -> None:
        from neurons.chain import ChainUnreachable

        if op in self.hang_ops:
            self.hung += 1
            await asyncio.Event().wait()
        if op in self.fail_ops:
            raise ChainUnreachable(f"fake chain: {op} is down")
        if self.fail_reads > 0:
            self.fail_reads -= 1
            raise ChainUnreachable(f"fake chain: {op} failed (connection lost)")

    def view(self) -> MetagraphView:
        return metagraph_of(self.netuid, sorted(self.neurons.values(), key=lambda n: n.uid),
                            block=self.current_block, tempo=self.tempo_blocks)

    def set_neuron(self, uid: int, **changes: object) -> None:
        self.neurons[uid] = replace(self.neurons[uid], **changes)

    async def metagraph(self, netuid: int) -> MetagraphView:
        await self._read("metagraph")
        assert netuid == self.netuid
        return self.view()

    async def serve_axon(self, wallet: object, netuid: int, ip: str, port: int) -> WriteResult:
        hotkey = wallet.hotkey.ss58_address  # type: ignore[attr-defined]
        self.axon_calls.append((hotkey, ip, port))
        for uid, n in self.neurons.items():
            if n.hotkey == hotkey:
                self.neurons[uid] = replace(n, axon=(ip, port))
                return WriteResult(ok=True, block=self.current_block)
        return WriteResult(ok=False, error=f"hotkey {hotkey} is not registered")

    async def submit(self, intent: bt.SetWeights, wallet: object) -> WriteResult:
        if "submit" in self.fail_ops:
            return WriteResult(ok=False, error="fake chain: lost the connection")
        assert intent.netuid == self.netuid
        hotkey = wallet.hotkey.ss58_address  # type: ignore[attr-defined]
        me = next((n for n in self.neurons.values() if n.hotkey == hotkey), None)
        if me is None:
            return WriteResult(ok=False, error=f"set_weights: hotkey {hotkey} is not registered")
        since = self.current_block - me.last_update
        if self.rate_limit and me.last_update > 0 and since < self.rate_limit:
            return WriteResult(
                ok=False, rate_limited=True,
                error=f"rate limited: last set {since} blocks ago; retry in ~{self.rate_limit - since} blocks",
            )
        self.submitted.append(intent)
        if self.weights_error is not None:
            return WriteResult(ok=False, error=self.weights_error)
        self.neurons[me.uid] = replace(me, last_update=self.current_block)
        return WriteResult(ok=True, block=self.current_block)

    async def weights_of(self, netuid: int, uid: int) -> dict[int, float]:
        await self._read("weights_of")
        return {}

    async def close(self) -> None:
        self.closed = True


class RoutingTransport(httpx.AsyncBaseTransport):
    """Sends each request to the transport registered for its ``ip:port``.

    An address with no transport is a connection error, as a dead axon is.
    ``seen`` lists the addresses asked, in order.
    """

    def __init__(self, routes: dict[tuple[str, int], httpx.AsyncBaseTransport] | None = None) -> None:
        self.routes = dict(routes or {})
        self.seen: list[tuple[str, int]] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        address = (request.url.host, request.url.port or 80)
        self.seen.append(address)
        target = self.routes.get(address)
        if target is None:
            raise httpx.ConnectError(f"connection refused at {address[0]}:{address[1]}", request=request)
        return await target.handle_async_request(request)


@dataclass(frozen=True)
class FakeCircuit:
    """What the validator needs of an ``execution_layer.Circuit``: id, name, timeout; ``size`` for
    ``fake_sample``."""

    id: str
    name: str
    timeout_s: float = 2.0
    size: int = 4

    @property
    def spec(self) -> "InputSpec":
        from models.metadata import InputSpec

        return InputSpec(shape=(1, self.size), low=-1.0, high=1.0, noise_std=0.1)

    @property
    def samples_path(self) -> Path:
        return Path("/nonexistent/samples.npy")  # fake_sample draws; nothing reads a pool


def fake_sample(circuit: FakeCircuit, rng) -> "np.ndarray":
    """The validator's ``sample`` for a ``FakeCircuit``: ``size`` uniform values in [-1, 1) drawn with ``rng``."""
    import numpy as np

    return rng.uniform(-1.0, 1.0, size=(1, circuit.size)).astype(np.float32)


@dataclass
class FakeVerifier:
    """The validator's ``verify``: accepts exactly ``fake_result(circuit_id, inputs)``'s proof.

    So a proof of other inputs, or any other bytes, is rejected, like the real
    input binding and SNARK check would. ``error`` makes it raise instead;
    ``calls`` records (circuit id, proof bytes).
    """

    error: BaseException | None = None
    calls: list[tuple[str, bytes]] = field(default_factory=list)

    async def __call__(self, circuit_id: str, proof: Proof, inputs: Sequence[float]) -> Verdict:
        self.calls.append((circuit_id, proof.proof))
        if self.error is not None:
            raise self.error
        expected = fake_result(circuit_id, tuple(float(v) for v in inputs))
        if proof != expected.proof:
            return Verdict(False, "input instances differ from the inputs sent", None, 0.001)
        return Verdict(True, None, expected.outputs, 0.001)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def port_is_free(port: int) -> bool:
    """Whether 127.0.0.1:``port`` can be listened on now."""
    try:
        socket.create_server(("127.0.0.1", port)).close()
    except OSError:
        return False
    return True
