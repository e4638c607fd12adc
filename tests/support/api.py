"""The validator's API in process: the real app, dispatcher, miner client and miner apps, fake provers.

:func:`api_rig` builds a validator (``cast.validator``, uid 0) whose API is
``build_api_app`` over a real ``Dispatcher``; its miners are real miner apps
(``build_miner_app``) at private addresses, reached through a ``RoutingTransport``,
each proving with its own ``AsyncFakeProver``; verification is ``FakeVerifier``. Only the
provers and the verifier are fakes. Clients call the app through ``httpx.ASGITransport``:
:func:`signed` makes ``btauth/1`` headers for the validator's hotkey.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import bittensor as bt
import httpx
import numpy as np

from neurons.chain import MetagraphView, NeuronInfo
from neurons.mining.app import build_miner_app
from neurons.validating.api import build_api_app
from neurons.validating.api_auth import ApiAuthenticator
from neurons.validating.api_keys import ApiKeys, key_digest
from neurons.validating.api_limits import CallerLimits, LimitsConfig
from neurons.validating.capabilities import CapabilityBook
from neurons.validating.client import MinerClient
from neurons.validating.dispatch import Dispatcher
from neurons.validating.slots import MinerSlots
from protocol import ROUTE_INFER
from tests.support.cast import MIN_STAKE, NETUID, Cast
from tests.support.chain import metagraph_of, neuron, serving
from tests.support.network import RoutingTransport
from tests.support.provers import CIRCUIT_A, CIRCUIT_B, AsyncFakeProver, FakeCircuit, FakeVerifier
from tests.support.wallets import hotkey_of

__all__ = ["API_KEY", "CIRCUIT", "OTHER", "Directory", "ApiRig", "api_rig", "signed", "infer_body"]

API_KEY = "poi_test-key-for-the-api-rig"
CIRCUIT = FakeCircuit(CIRCUIT_A, "fake-a", timeout_s=1.0)
OTHER = FakeCircuit(CIRCUIT_B, "fake-b", timeout_s=1.0)


@dataclass
class Directory:
    """The dispatcher's view of the validator: a metagraph and per-uid scores."""

    metagraph: MetagraphView | None
    scores: dict[int, float] = field(default_factory=dict)

    def score_of(self, neuron: NeuronInfo) -> float:
        return self.scores.get(neuron.uid, 0.0)


@dataclass
class ApiRig:
    """One validator's API and its miners; ``client()`` is an httpx client on the app."""

    cast: Cast
    app: object
    dispatcher: Dispatcher
    directory: Directory
    provers: list[AsyncFakeProver]
    miners: list[NeuronInfo]
    network: RoutingTransport
    miner_client: MinerClient
    capabilities: CapabilityBook
    verify: FakeVerifier

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=httpx.ASGITransport(self.app), base_url="http://validator")  # type: ignore[arg-type]

    async def settle(self) -> None:
        """Let the validator learn every miner's capabilities (as its rounds do in the background)."""
        for miner in self.miners:
            self.capabilities.served(miner)
        await self.capabilities.settle()

    async def aclose(self) -> None:
        await self.capabilities.aclose()
        await self.miner_client.aclose()


def _wallets(cast: Cast) -> list[bt.Wallet]:
    """The cast's wallets that may play miners (the miner app checks callers, not itself)."""
    return [cast.miner, cast.no_permit, cast.poor]


async def api_rig(
    cast: Cast,
    *,
    miners: int = 2,
    provers: Sequence[AsyncFakeProver] | None = None,
    served: Sequence[frozenset[str]] | None = None,
    scores: dict[int, float] | None = None,
    allow: frozenset[str] | None = None,
    limits: LimitsConfig = LimitsConfig(per_minute=6000, burst=1000, max_concurrent=1000),
    max_attempts: int = 3,
    max_queue: int = 4,
    circuits: Sequence[FakeCircuit] = (CIRCUIT, OTHER),
    metagraph: bool = True,
) -> ApiRig:
    """The validator ``cast.validator`` (uid 0) with ``miners`` miners (uids 1..) at 10.0.0.<uid>;
    miner i serves ``served[i]`` (default: every circuit) and proves with ``provers[i]``.
    ``allow`` is the hotkey allowlist (default: ``cast.stranger``); the key :data:`API_KEY` is
    always valid. With ``metagraph`` False the validator has read none yet."""
    wallets = _wallets(cast)[:miners]
    provers = list(provers) if provers is not None else [AsyncFakeProver() for _ in wallets]
    served = list(served) if served is not None else [frozenset(c.id for c in circuits)] * len(wallets)
    neurons = [neuron(0, hotkey_of(cast.validator), stake=MIN_STAKE * 10)] + [
        serving(neuron(uid, hotkey_of(w), stake=0.0, permit=False), (f"10.0.0.{uid}", 8091))
        for uid, w in enumerate(wallets, start=1)
    ]
    view = metagraph_of(NETUID, neurons)
    routes: dict[tuple[str, int], httpx.AsyncBaseTransport] = {}
    for miner, wallet, prove, circuit_ids in zip(neurons[1:], wallets, provers, served):
        assert miner.axon is not None
        app = build_miner_app(
            wallet=wallet, prove=prove, circuits=circuit_ids, metagraph=lambda: view, netuid=NETUID,
            min_stake=MIN_STAKE, max_queue=max_queue,
        )
        routes[miner.axon] = httpx.ASGITransport(app)
    network = RoutingTransport(routes)
    miner_client = MinerClient(cast.validator, transport=network)
    capabilities = CapabilityBook(miner_client)
    directory = Directory(view if metagraph else None, dict(scores or {}))
    verify = FakeVerifier()
    dispatcher = Dispatcher(
        hotkey=hotkey_of(cast.validator), directory=directory, capabilities=capabilities, client=miner_client,
        verify=verify, slots=MinerSlots(), signer=bt.resolve_signer(cast.validator, role="hotkey"),
        min_stake=MIN_STAKE, allow_private_axons=True, max_attempts=max_attempts, rng=np.random.default_rng(0),
    )
    auth = ApiAuthenticator(
        hotkey=hotkey_of(cast.validator),
        allowlist=allow if allow is not None else frozenset({hotkey_of(cast.stranger)}),
        keys=ApiKeys({key_digest(API_KEY): "rig-client"}),
    )
    app = build_api_app(circuits=list(circuits), answer=dispatcher.answer, auth=auth, limits=CallerLimits(limits))
    return ApiRig(cast, app, dispatcher, directory, provers, neurons[1:], network, miner_client, capabilities, verify)


def infer_body(circuit: FakeCircuit = CIRCUIT, inputs: Sequence[float] | None = None, **extra: object) -> bytes:
    """An ``InferRequest`` body (default inputs: ``size`` values in [-1, 1])."""
    values = list(inputs) if inputs is not None else [round(0.1 * (i + 1), 3) for i in range(circuit.size)]
    return json.dumps({"circuit_id": circuit.id, "inputs": values, **extra}).encode()


def signed(wallet: bt.Wallet, body: bytes, receiver: str, *, path: str = ROUTE_INFER) -> dict[str, str]:
    """The ``btauth/1`` headers of ``POST path`` with ``body``, by ``wallet``'s hotkey, for ``receiver``."""
    return bt.http_auth.sign(
        bt.resolve_signer(wallet, role="hotkey"), method="POST", path=path, body=body,
        receiver_ss58=receiver, nonce_ns=time.time_ns(),
    )
