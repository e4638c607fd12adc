"""The miner daemon: wires chain, prover pool and HTTP app, then serves until stopped.

Start-up, in order: load the wallet (clear error when missing), connect to the
chain, check the hotkey is registered (the error names the btcli command),
load and hash-check the circuits, derive or load the proving keys (progress in
the log), start the prover worker, serve HTTP, announce ip:port on chain. Then
it refreshes the metagraph every ``resync_interval`` seconds until SIGINT or
SIGTERM, when it stops taking requests, lets the proof in hand finish, and exits.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
from dataclasses import dataclass
from pathlib import Path

import uvicorn

from neurons import chain as chain_mod
from neurons.chain import ChainAccess, MetagraphView
from neurons.prover_pool import ProverPool

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
        state_dir=args.state_dir.expanduser(),
    )


def make_ezkl_prover(key_cache: Path | None, srs_path: Path | None):
    """Top-level (picklable) factory: builds the real prover inside a worker process."""
    from execution_layer import CircuitRegistry, EzklProver

    return EzklProver(CircuitRegistry.load(srs_path=srs_path), key_cache=key_cache)


async def run_miner(settings: MinerSettings) -> int:
    raise NotImplementedError
