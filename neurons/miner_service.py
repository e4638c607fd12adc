"""The miner daemon: wires chain, prover pool and HTTP app, then serves until stopped.

Start-up, in order: load the wallet (clear error when missing), connect to the
chain, check the hotkey is registered (the error names the btcli command),
bind the HTTP port (a taken port fails here, before the slow steps), load and
hash-check the circuits, derive or load the proving keys (progress in
the log), start the prover worker, serve HTTP, announce ip:port on chain. Then
it refreshes the metagraph every ``resync_interval`` seconds until SIGINT or
SIGTERM, when it stops taking requests, lets the proof in hand finish, and exits.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import logging
import socket
from dataclasses import dataclass
from pathlib import Path

import uvicorn

from execution_layer import CircuitNotFound, CircuitRegistry, EzklProver
from neurons import chain as chain_mod
from neurons.chain import ChainAccess, MetagraphView
from neurons.daemon import until_stopped
from neurons.miner_app import build_miner_app
from neurons.prover_pool import ProverPool
from utils.metrics import Metrics, serve_metrics
from utils.wandb_log import NullLogger, make_run_logger

__all__ = ["MinerSettings", "settings_from_args", "run_miner", "make_ezkl_prover"]

log = logging.getLogger("miner")


@dataclass(frozen=True)
class MinerSettings:
    netuid: int
    network: str
    devnet_state: Path
    wallet_name: str
    wallet_hotkey: str
    wallet_path: Path
    axon_ip: str
    axon_port: int
    external_ip: str | None
    external_port: int | None
    circuits: tuple[str, ...] | None
    max_queue: int
    workers: int
    min_stake: float
    extra_latency: float
    resync_interval: float
    key_cache: Path | None
    srs_path: Path | None
    metrics_port: int
    wandb_on: bool
    wandb_offline: bool
    wandb_project: str
    wandb_entity: str | None
    wandb_dir: str | None
    state_dir: Path


def settings_from_args(args: argparse.Namespace) -> MinerSettings:
    devnet = args.network == "devnet"
    min_stake = args.min_stake if args.min_stake is not None else (0.0 if devnet else 1000.0)
    return MinerSettings(
        netuid=args.netuid,
        network=args.network,
        devnet_state=args.devnet_state.expanduser(),
        wallet_name=args.wallet_name,
        wallet_hotkey=args.wallet_hotkey,
        wallet_path=args.wallet_path.expanduser(),
        axon_ip=args.axon_ip,
        axon_port=args.axon_port,
        external_ip=args.axon_external_ip or ("127.0.0.1" if devnet else None),
        external_port=args.axon_external_port,
        circuits=tuple(args.circuits) if args.circuits else None,
        max_queue=args.max_queue,
        workers=args.workers,
        min_stake=min_stake,
        extra_latency=args.extra_latency,
        resync_interval=args.resync_interval,
        key_cache=args.key_cache.expanduser() if args.key_cache else None,
        srs_path=args.srs_path,
        metrics_port=args.metrics_port,
        wandb_on=args.wandb_on,
        wandb_offline=args.wandb_offline,
        wandb_project=args.wandb_project,
        wandb_entity=args.wandb_entity,
        wandb_dir=args.wandb_dir,
        state_dir=args.state_dir.expanduser(),
    )


def make_ezkl_prover(key_cache: Path | None, srs_path: Path | None):
    """Top-level (picklable) factory: builds the real prover inside a worker process."""
    return EzklProver(CircuitRegistry.load(srs_path=srs_path), key_cache=key_cache)


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


class _QuietServer(uvicorn.Server):
    # The daemon owns SIGINT/SIGTERM (it must also stop the prover pool and the
    # resync loop); uvicorn's own capture would re-raise them after shutdown.
    @contextlib.contextmanager
    def capture_signals(self):  # type: ignore[override]
        yield


async def _start_server(app, sock: socket.socket, host: str, port: int) -> tuple[uvicorn.Server, asyncio.Task]:
    """Serve ``app`` on the already bound ``sock``; returns once the server accepts connections.

    The socket is bound by the caller (``_bind_axon``), so a port in use is an
    ``OSError`` naming the address (uvicorn's own bind failure is a
    ``SystemExit`` that would skip the daemon's clean error and shutdown).
    """
    server = _QuietServer(
        uvicorn.Config(app, log_config=None, access_log=False, lifespan="off", timeout_graceful_shutdown=20)
    )
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        if serving.done():
            sock.close()
            await serving
            raise OSError(f"the HTTP server on {host}:{port} stopped at start")
        await asyncio.sleep(0.02)
    return server, serving


async def _stop_server(server: uvicorn.Server, serving: asyncio.Task) -> None:
    """Stop taking connections, let requests in flight finish (bounded), wait for the server."""
    server.should_exit = True
    await serving


def _select_circuits(registry, wanted: tuple[str, ...] | None) -> list:
    if not wanted:
        return list(registry)
    chosen = []
    for key in wanted:
        try:
            chosen.append(registry.by_name(key))
        except CircuitNotFound:
            chosen.append(registry.get(key))
    return chosen


async def run_miner(
    settings: MinerSettings,
    *,
    stop: asyncio.Event | None = None,
    chain: ChainAccess | None = None,
) -> None:
    """Serve until ``stop`` is set (the entry script sets it on SIGINT/SIGTERM).

    Raises ``ChainFailure`` (wallet missing, not registered, chain unreachable)
    and ``ExecutionError`` (circuit files do not match their manifest, key
    derivation failed) before serving anything; the entry script prints them
    as one line.
    """
    s = settings
    stop = stop or asyncio.Event()
    wallet = chain_mod.load_wallet(s.wallet_name, s.wallet_hotkey, s.wallet_path)
    hotkey = wallet.hotkey.ss58_address
    owns_chain = chain is None
    if chain is None:
        chain = await chain_mod.connect(s.network, devnet_path=s.devnet_state)
    pool: ProverPool | None = None
    listener: socket.socket | None = None
    metrics_server = None
    run_logger = NullLogger()
    server: uvicorn.Server | None = None
    serving: asyncio.Task | None = None
    try:
        view = await chain.metagraph(s.netuid)
        uid = chain_mod.require_registered(
            view, hotkey, s.netuid, s.network, wallet_name=s.wallet_name, wallet_hotkey=s.wallet_hotkey,
            wallet_path=s.wallet_path, devnet_state=s.devnet_state,
        )
        log.info("hotkey %s is uid %d on netuid %d (%s)", hotkey, uid, s.netuid, s.network)
        if s.external_ip is None:
            raise chain_mod.ChainFailure(
                "--axon.external_ip is required on real networks: the chain must know where to reach "
                "this miner (the SDK does not detect it)"
            )
        # Operator settings that can fail (port taken, wandb key missing) fail before the slow part.
        metrics = Metrics()
        if s.metrics_port:
            metrics_server = serve_metrics(metrics.registry, port=s.metrics_port, addr="0.0.0.0")
            log.info("metrics at %s", metrics_server.url)
        run_logger = make_run_logger(
            enabled=s.wandb_on, component="miner", project=s.wandb_project, entity=s.wandb_entity,
            offline=s.wandb_offline, run_dir=s.wandb_dir,
            config={"uid": uid, "hotkey": hotkey, "netuid": s.netuid, "network": s.network},
        )

        # Bind before the slow start-up so a taken port fails at once, as one line.
        listener = _bind_axon(s.axon_ip, s.axon_port)

        registry = CircuitRegistry.load(srs_path=s.srs_path)
        circuits = _select_circuits(registry, s.circuits)
        prover = EzklProver(registry, key_cache=s.key_cache)
        for c in circuits:
            log.info("circuit %s (%s): checking the proving key", c.name, c.id[:12])
            await asyncio.to_thread(prover.ensure_keys, c.id)
        del prover  # the worker process builds its own; keys are on disk now

        pool = ProverPool(functools.partial(make_ezkl_prover, s.key_cache, s.srs_path), workers=s.workers)
        await pool.warm_up()
        log.info("prover ready: %d worker(s), circuits %s", s.workers, ", ".join(c.name for c in circuits))

        names = {c.id: c.name for c in circuits}
        assert pool is not None
        active_pool = pool

        async def prove(circuit_id: str, inputs):
            if s.extra_latency > 0:
                await asyncio.sleep(s.extra_latency)
            result = await active_pool.prove(circuit_id, inputs)
            run_logger.log_proof(
                circuit_id=circuit_id, witness_s=result.witness_s, prove_s=result.prove_s,
                proof_bytes=len(result.proof.proof),
            )
            return result

        snapshot = {"view": view}
        app = build_miner_app(
            wallet=wallet, prove=prove, circuits=[c.id for c in circuits],
            metagraph=lambda: snapshot["view"], netuid=s.netuid, min_stake=s.min_stake,
            max_queue=s.max_queue, max_concurrent=s.workers, observer=_MetricsObserver(metrics, names),
        )
        server, serving = await _start_server(app, listener, s.axon_ip, s.axon_port)
        log.info("serving on %s:%d", s.axon_ip, s.axon_port)

        announced = (s.external_ip, s.external_port or s.axon_port)
        await _announce(chain, wallet, s.netuid, announced, view, uid, metrics=metrics)

        async def _resync() -> None:
            snapshot["view"] = fresh = await chain.metagraph(s.netuid)
            await _announce(chain, wallet, s.netuid, announced, fresh, uid, metrics=metrics)

        while not stop.is_set() and not serving.done():
            try:
                await asyncio.wait_for(stop.wait(), timeout=s.resync_interval)
            except asyncio.TimeoutError:
                pass
            if stop.is_set() or serving.done():
                break
            try:
                await until_stopped(_resync(), stop)  # a stalled chain must not delay a stop
            except Exception as error:  # keep serving on the last good snapshot
                metrics.chain_errors.labels(operation="metagraph").inc()
                log.warning("metagraph resync failed (%s); keeping the previous snapshot", error)
        log.info("stopping: no new requests; finishing the proofs in hand")
        stopping, server = server, None
        await _stop_server(stopping, serving)  # re-raises what stopped the server, if anything did
    finally:
        if server is not None and serving is not None:  # an error after start: free the port
            with contextlib.suppress(Exception):
                await _stop_server(server, serving)
        if pool is not None:
            await pool.aclose()
        if listener is not None:
            listener.close()
        if metrics_server is not None:
            metrics_server.stop()
        run_logger.finish()
        if owns_chain:
            await chain.close()
        log.info("miner stopped")


def _bind_axon(host: str, port: int) -> socket.socket:
    """A socket bound to ``host:port`` for uvicorn; OSError with one line saying what to do."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as error:
        sock.close()
        raise OSError(
            f"cannot listen on {host}:{port} ({error.strerror or error}); stop what holds the "
            "port or choose another with --axon.port"
        ) from None
    return sock


async def _announce(
    chain: ChainAccess, wallet, netuid: int, axon: tuple[str, int], view: MetagraphView, uid: int,
    metrics: Metrics | None = None,
) -> None:
    """Announce ip:port unless the chain already shows exactly that (saves a write).

    A refused write is counted in ``chain_errors{operation="serve_axon"}`` and logged; the
    next resync tries again.
    """
    me = view.by_uid(uid)
    if me is not None and me.axon == axon:
        return
    result = await chain.serve_axon(wallet, netuid, axon[0], axon[1])
    if result.ok:
        log.info("announced axon %s:%d on netuid %d", axon[0], axon[1], netuid)
    else:
        if metrics is not None:
            metrics.chain_errors.labels(operation="serve_axon").inc()
        log.warning("announcing axon %s:%d failed: %s (retrying at the next resync)", axon[0], axon[1], result.error)
