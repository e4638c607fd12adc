"""The miner daemon: wires chain, prover pool and HTTP app, then serves until stopped.

Start-up, in order: load the wallet (clear error when missing), connect to the
chain, check the hotkey is registered (the error names the btcli command),
start the metrics endpoint and run logger and bind the HTTP port (a taken port
or wandb without a key fails here, before the slow steps), load and hash-check
the circuits, read the subnet owner's circuit pin (``neurons.shared.pins``: off this
machine a circuit outside it is not served; each resync reads it again, so a new pin
applies without a restart), derive or load the proving keys (progress in the log), split the
``--miner.workers`` into lanes (``neurons.mining.lanes``: one per circuit when there
are enough workers; logged, with a line saying so when circuits share one), start the
prover workers, serve HTTP, announce ip:port on chain (a refused announcement is
counted in ``chain_errors{operation="serve_axon"}`` and retried). Then
it refreshes the metagraph every ``resync_interval`` seconds until SIGINT or
SIGTERM, when it stops taking requests, lets the proof in hand finish, and exits.

A resync that fails leaves the miner serving on its last snapshot (failing
closed would zero the miner through a chain outage): each failure is a
WARNING giving the snapshot's age, an ERROR once the snapshot is older than
``STALE_AFTER_INTERVALS`` resync intervals (validators that lost their permit
are still admitted, new ones refused); ``metagraph_age_seconds`` shows the age.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Awaitable, Callable, Mapping, Sequence

import bittensor as bt

from execution_layer import CircuitRegistry, EzklProver, ProveResult, make_prover
from neurons.chain import ChainAccess, ChainFailure, MetagraphView, register_command
from neurons.mining.app import build_miner_app
from neurons.mining.lanes import LanePlan, plan_lanes
from neurons.shared.addresses import routable
from neurons.shared.admission import first_broken_rule
from neurons.shared.connections import ConnectionLimits, ConnectionPolicy, Refusal
from neurons.shared.daemon import until_stopped
from neurons.shared.http_server import bind, serving
from neurons.shared.pins import PinWatcher
from neurons.shared.prover_pool import ProverPool
from neurons.shared.settings import ChainSettings, ObservabilitySettings, WalletSettings
from neurons.shared.startup import Registered, observability, registered_neuron, select_circuits
from utils.metrics import Metrics

__all__ = [
    "MinerSettings", "settings_from_args", "run_miner",
    "MetagraphSnapshot", "resync_until_stopped", "STALE_AFTER_INTERVALS", "Registration", "DEVNET_AXON_IP",
    "validator_addresses", "axon_connection_policy", "log_lanes",
]

log = logging.getLogger("miner")

# The address a miner on the devnet announces by default: loopback, but not 127.0.0.1, which
# subtensor refuses to list (serving.rs, is_valid_ip_address), as the devnet does.
DEVNET_AXON_IP = "127.0.0.2"

# A snapshot older than this many resync intervals is logged as an ERROR on each failed resync.
STALE_AFTER_INTERVALS = 10


@dataclass(frozen=True)
class MinerSettings:
    chain: ChainSettings
    wallet: WalletSettings
    observability: ObservabilitySettings
    axon_ip: str
    axon_port: int
    external_ip: str | None
    external_port: int | None
    circuits: tuple[str, ...] | None
    max_queue: int
    workers: int | None  # None: one per served circuit
    min_stake: float
    extra_latency: float
    resync_interval: float
    key_cache: Path | None
    srs_dir: Path | None


def settings_from_args(args: argparse.Namespace) -> MinerSettings:
    """The miner's settings; on the devnet, 127.0.0.2 and no stake floor unless flags say otherwise
    (the chain refuses to list 127.0.0.1; the rest of 127.0.0.0/8 is this machine too)."""
    chain = ChainSettings.from_args(args)
    min_stake = args.min_stake if args.min_stake is not None else chain.default_min_stake
    return MinerSettings(
        chain=chain,
        wallet=WalletSettings.from_args(args),
        observability=ObservabilitySettings.from_args(args),
        axon_ip=args.axon_ip,
        axon_port=args.axon_port,
        external_ip=args.axon_external_ip or (DEVNET_AXON_IP if chain.devnet else None),
        external_port=args.axon_external_port,
        circuits=tuple(args.circuits) if args.circuits else None,
        max_queue=args.max_queue,
        workers=args.workers,
        min_stake=min_stake,
        extra_latency=args.extra_latency,
        resync_interval=args.resync_interval,
        key_cache=args.key_cache.expanduser() if args.key_cache else None,
        srs_dir=args.srs_dir,
    )


class _MetricsObserver:
    """Feeds the miner app's hooks into Prometheus metrics."""

    def __init__(self, metrics: Metrics, names: dict[str, str]) -> None:
        self._metrics = metrics
        self._names = names

    def request_finished(self, route: str, outcome: str, status: int) -> None:
        self._metrics.requests.labels(outcome=outcome).inc()

    def prove_finished(self, circuit_id: str, seconds: float, ok: bool) -> None:
        if ok:
            self._metrics.proof_seconds.labels(circuit=self._names.get(circuit_id, "other")).observe(seconds)

    def queue_depth(self, running: int, waiting: int) -> None:
        self._metrics.queue_depth.set(running + waiting)


async def run_miner(
    settings: MinerSettings,
    *,
    stop: asyncio.Event | None = None,
    chain: ChainAccess | None = None,
) -> None:
    """Serve until ``stop`` is set (the entry script sets it on SIGINT/SIGTERM).

    Raises ``ChainFailure`` (wallet missing, not registered, chain unreachable),
    ``RunLoggerError`` (wandb on without a key), ``OSError`` (axon or metrics
    port taken, unusable key cache) and ``ExecutionError`` (circuit files do
    not match their manifest, key derivation failed) before serving anything;
    the entry script prints them as one line.
    """
    s = settings
    stop = stop or asyncio.Event()
    try:
        async with contextlib.AsyncExitStack() as stack:
            me = await stack.enter_async_context(registered_neuron(s.chain, s.wallet, chain=chain))
            await _serve(s, me, stack, stop)
    finally:
        log.info("miner stopped")


async def _serve(s: MinerSettings, me: Registered, stack: contextlib.AsyncExitStack, stop: asyncio.Event) -> None:
    """Everything after registration; every resource goes on ``stack``."""
    log.info("hotkey %s is uid %d on netuid %d (%s)", me.hotkey, me.uid, me.netuid, me.network)
    if s.external_ip is None:
        raise ChainFailure(
            "--axon.external_ip is required on real networks: the chain must know where to reach "
            "this miner (the SDK does not detect it)"
        )
    if not s.chain.devnet and not routable(s.external_ip):
        log.warning(
            "--axon.external_ip %s is not a public address: validators on %s will not query this "
            "miner (unless they run with --validator.allow_private_axons), and it will earn nothing",
            s.external_ip, s.chain.network,
        )

    # Operator settings that can fail (port taken, wandb key missing) fail before the slow part.
    obs = stack.enter_context(observability(s.observability, component="miner", config=me.run_config()))
    listener = bind(s.axon_ip, s.axon_port)
    stack.callback(listener.close)  # the server closes it too; this covers a failed start-up

    registry = CircuitRegistry.load(srs_dir=s.srs_dir)
    circuits = select_circuits(registry, s.circuits, chain=s.chain)
    workers = s.workers or len(circuits)
    pins = PinWatcher(circuits, chain=me.chain, netuid=me.netuid, network=me.network,
                      enforce=s.chain.enforces_pins, role="served")
    await pins.refresh()  # said at start; each resync reads it again
    prover = EzklProver(registry, key_cache=s.key_cache)
    for c in circuits:
        log.info("circuit %s (%s): checking the proving key", c.name, c.id[:12])
        await asyncio.to_thread(prover.ensure_keys, c.id)
    del prover  # the worker process builds its own; keys are on disk now

    pool = ProverPool(
        functools.partial(make_prover, key_cache=s.key_cache, srs_dir=s.srs_dir), workers=workers
    )
    stack.push_async_callback(pool.aclose)
    await pool.warm_up()
    log.info("prover ready: %d worker(s), circuits %s", workers, ", ".join(c.name for c in circuits))

    names = {c.id: c.name for c in circuits}
    lanes = plan_lanes(names, workers=workers, max_queue=s.max_queue)
    log_lanes(lanes, names)

    async def prove(circuit_id: str, inputs: tuple[float, ...]) -> ProveResult:
        if s.extra_latency > 0:
            await asyncio.sleep(s.extra_latency)
        result = await pool.prove(circuit_id, inputs)
        obs.run_logger.log_proof(
            circuit_id=circuit_id, witness_s=result.witness_s, prove_s=result.prove_s,
            proof_bytes=len(result.proof.proof),
        )
        return result

    snapshot = MetagraphSnapshot(me.view)
    obs.metrics.metagraph_age_seconds.set_function(snapshot.age)
    app = build_miner_app(
        wallet=me.wallet, prove=prove, circuits=[c.id for c in circuits],
        metagraph=lambda: snapshot.view, netuid=me.netuid, min_stake=s.min_stake,
        max_queue=s.max_queue, max_concurrent=workers, lanes=lanes, observer=_MetricsObserver(obs.metrics, names),
        circuit_names=names, check_inputs=lambda cid, inputs: registry.get(cid).check_inputs(inputs),
        pinned=pins.allows,
    )
    policy = axon_connection_policy(snapshot, min_stake=s.min_stake, metrics=obs.metrics)
    async with serving(app, listener, policy=policy) as server_task:
        log.info("serving on %s:%d", s.axon_ip, s.axon_port)
        announced = (s.external_ip, s.external_port or s.axon_port)
        registration = Registration(me.hotkey, me.netuid, me.uid, register=register_command(
            me.netuid, me.network, s.wallet.name, s.wallet.hotkey,
            wallet_path=s.wallet.path, devnet_state=s.chain.devnet_state,
        ))

        async def follow(view: MetagraphView) -> None:
            if registration.follow(view) is not None:
                await _announce(me.chain, me.wallet, me.netuid, announced, view, metrics=obs.metrics)

        await follow(me.view)

        async def resync() -> None:
            await pins.refresh()  # one storage read; never raises (a failed read keeps the last pin)
            fresh = await me.chain.metagraph(me.netuid)
            snapshot.update(fresh)
            await follow(fresh)

        await resync_until_stopped(
            resync, snapshot=snapshot, interval=s.resync_interval, metrics=obs.metrics, stop=stop,
            done=server_task.done,
        )
        log.info("stopping: no new requests; finishing the proofs in hand")
    # Leaving ``serving`` re-raised whatever stopped the server, if anything did.


def log_lanes(lanes: Sequence[LanePlan], names: Mapping[str, str]) -> None:
    """One INFO line per lane (its circuits, workers and queue), and one more when circuits
    share a lane: a slow proof of one then delays or refuses the others. INFO, not WARNING:
    sharing happens only when --miner.workers is set below the circuit count, and is harmless for
    circuits equally fast."""
    for i, lane in enumerate(lanes, 1):
        log.info("lane %d: %s on %d worker(s), up to %d waiting", i,
                 ", ".join(names.get(c, c[:12]) for c in lane.circuits), lane.workers, lane.max_queue)
    shared = [lane for lane in lanes if len(lane.circuits) > 1]
    if shared:
        served = sum(len(lane.circuits) for lane in lanes)
        log.info(
            "%d circuits share %d lane(s) of %d: a slow proof of one delays the others in its lane "
            "(503 busy, 408). Run --miner.workers %d (one lane per circuit) if memory allows; "
            "see docs/hardware.md", sum(len(lane.circuits) for lane in shared), len(shared), len(lanes), served,
        )


def validator_addresses(view: MetagraphView, *, min_stake: float) -> frozenset[str]:
    """The axon IPs of the neurons in ``view`` the miner would admit (``first_broken_rule``:
    registered, validator permit, ``stake >= min_stake``) that announce an axon."""
    return frozenset(
        n.axon[0] for n in view.neurons
        if n.axon is not None and first_broken_rule(n, min_stake=min_stake) is None
    )


def axon_connection_policy(
    snapshot: MetagraphSnapshot, *, min_stake: float, metrics: Metrics,
    limits: ConnectionLimits | None = None,
) -> ConnectionPolicy:
    """The HTTP server's connection policy for the miner (see ``neurons.shared.connections``).

    Trusted addresses are ``validator_addresses`` of the current snapshot,
    computed once per snapshot (the server asks on every connection) and
    logged (INFO) when they change, for an operator's firewall list; refusals
    are counted in ``connections_refused{reason}``.
    """
    cache: dict[str, tuple[MetagraphView, frozenset[str]]] = {}

    def trusted() -> frozenset[str]:
        view = snapshot.view
        seen = cache.get("view")
        if seen is None or seen[0] is not view:
            addresses = validator_addresses(view, min_stake=min_stake)
            if seen is None or addresses != seen[1]:
                log.info("connection room kept for %d validator address(es): %s",
                         len(addresses), ", ".join(sorted(addresses)) or "none announced")
            seen = cache["view"] = (view, addresses)
        return seen[1]

    def refused(reason: Refusal) -> None:
        metrics.connections_refused.labels(reason=reason.value).inc()

    return ConnectionPolicy(limits=limits or ConnectionLimits(), trusted=trusted, on_refused=refused)


class MetagraphSnapshot:
    """The metagraph the miner admits validators by, and when it was read (``clock``: monotonic s)."""

    def __init__(self, view: MetagraphView, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self.view = view
        self.read_at = clock()

    def update(self, view: MetagraphView) -> None:
        """Replace the snapshot with a fresh read."""
        self.view = view
        self.read_at = self._clock()

    def age(self) -> float:
        """Seconds since the snapshot was read."""
        return max(0.0, self._clock() - self.read_at)


async def resync_until_stopped(
    resync: Callable[[], Awaitable[None]],
    *,
    snapshot: MetagraphSnapshot,
    interval: float,
    metrics: Metrics,
    stop: asyncio.Event,
    done: Callable[[], bool] = lambda: False,
) -> None:
    """Call ``resync`` every ``interval`` seconds until ``stop`` is set or ``done()``.

    ``resync`` reads the metagraph into ``snapshot`` (and announces the axon).
    A resync that raises never ends the loop or the serving: the miner goes
    on with the last snapshot. It is counted in
    ``chain_errors{operation="metagraph"}`` and logged once, as a WARNING with
    the snapshot's age, or as an ERROR once the age passes
    ``STALE_AFTER_INTERVALS * interval``. A stop interrupts a stalled resync.
    """
    while not stop.is_set() and not done():
        try:
            await asyncio.wait_for(stop.wait(), timeout=interval)
        except asyncio.TimeoutError:
            pass
        if stop.is_set() or done():
            break
        try:
            await until_stopped(resync(), stop)  # a stalled chain must not delay a stop
        except Exception as error:  # keep serving on the last good snapshot
            metrics.chain_errors.labels(operation="metagraph").inc()
            age = snapshot.age()
            if age > STALE_AFTER_INTERVALS * interval:
                log.error(
                    "metagraph resync failed (%s); the metagraph is STALE: %.0fs old, more than %d resync "
                    "intervals. Still serving on it, but validators that lost their permit are still "
                    "admitted and new ones refused: check the chain endpoint (--subtensor.network)",
                    error, age, STALE_AFTER_INTERVALS,
                )
            else:
                log.warning("metagraph resync failed (%s); keeping the previous snapshot, %.0fs old", error, age)


class Registration:
    """Where the miner's hotkey stands on the subnet, followed from one metagraph to the next.

    Found by hotkey, never by the uid it had at start-up: after a deregistration
    (pruned, or replaced by a new registration) that uid belongs to another hotkey.
    :meth:`follow` returns the hotkey's uid, or None while it is not registered.
    Losing the registration is one ERROR line, when it is first seen, naming the
    command that registers again (``register``); the miner keeps serving (a
    validator's metagraph may lag) and writes nothing to the chain until it is
    registered again, which is one INFO line.
    """

    def __init__(self, hotkey: str, netuid: int, uid: int | None, *, register: str) -> None:
        self.hotkey = hotkey
        self.netuid = netuid
        self.uid = uid
        self._register = register

    def follow(self, view: MetagraphView) -> int | None:
        neuron = view.by_hotkey(self.hotkey)
        if neuron is None:
            if self.uid is not None:
                log.error(
                    "hotkey %s is no longer registered on netuid %d (uid %d was deregistered: pruned or "
                    "replaced); validators will stop querying this miner. It keeps serving and announces "
                    "again once registered: %s", self.hotkey, self.netuid, self.uid, self._register,
                )
            self.uid = None
            return None
        if self.uid is None:
            log.info("hotkey %s is registered again, as uid %d: announcing", self.hotkey, neuron.uid)
        elif neuron.uid != self.uid:
            log.info("hotkey %s is now uid %d (was %d)", self.hotkey, neuron.uid, self.uid)
        self.uid = neuron.uid
        return neuron.uid


async def _announce(
    chain: ChainAccess, wallet: bt.Wallet, netuid: int, axon: tuple[str, int], view: MetagraphView,
    metrics: Metrics | None = None,
) -> None:
    """Announce ip:port unless the chain already shows exactly that for the wallet's hotkey
    (saves a write); an axon the chain cleared (no ip:port) is announced again.

    A refused write is counted in ``chain_errors{operation="serve_axon"}`` (when
    ``metrics`` is given) and logged as one warning; the next resync tries again.
    """
    me = view.by_hotkey(wallet.hotkey.ss58_address)
    if me is not None and me.axon == axon:
        return
    result = await chain.serve_axon(wallet, netuid, axon[0], axon[1])
    if result.ok:
        log.info("announced axon %s:%d on netuid %d", axon[0], axon[1], netuid)
    else:
        if metrics is not None:
            metrics.chain_errors.labels(operation="serve_axon").inc()
        log.warning("announcing axon %s:%d failed: %s (retrying at the next resync)", axon[0], axon[1], result.error)
