"""Start-up steps both daemons take before their own work.

- ``registered_neuron``: load the wallet, connect to the chain (unless one is
  injected), read the metagraph and find our uid. Raises ``WalletMissing``
  (naming the file and the command that creates it), ``ChainUnreachable`` /
  ``UnknownNetwork``, or ``NotRegistered`` (naming the register command, with
  ``--wallet.path`` / the devnet state file when they are not the defaults);
  closes a chain it opened when the block ends, never an injected one.
- ``select_circuits``: the circuits a ``--miner.circuits`` /
  ``--validator.circuits`` flag names, by name or id; logs one WARNING per
  model folder that failed to load; raises ``CircuitUnavailable`` when a
  broken one is asked for by name, ``UntrustedSrs``
  when one is built on a self-generated SRS and the chain does not trust such
  circuits (``ChainSettings.trusts_self_generated_srs``).
- ``observability``: the Prometheus endpoint (when a port is set) and the
  Weights & Biases run (when on), both stopped when the block ends. Raises
  ``RunLoggerError`` when wandb cannot start (no key), ``OSError`` when the
  port is taken; daemons enter it right after registration, before their slow
  start-up, so these fail fast.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import bittensor as bt

from execution_layer import Circuit, CircuitNotFound, CircuitRegistry, CircuitUnavailable, UntrustedSrs
from neurons import chain as chain_mod
from neurons.chain import ChainAccess, MetagraphView
from neurons.shared.settings import ChainSettings, ObservabilitySettings, WalletSettings
from utils.metrics import Metrics, serve_metrics
from utils.wandb_log import NullLogger, RunLogger, make_run_logger

log = logging.getLogger(__name__)

__all__ = ["Registered", "open_chain", "registered_neuron", "select_circuits", "Observability", "observability"]


@dataclass(frozen=True)
class Registered:
    """Our wallet on a chain where its hotkey holds ``uid`` on ``netuid``."""

    wallet: bt.Wallet
    hotkey: str
    chain: ChainAccess
    view: MetagraphView  # the metagraph read at start-up
    uid: int
    netuid: int
    network: str

    def run_config(self) -> dict[str, Any]:
        """What names this neuron in a Weights & Biases run."""
        return {"uid": self.uid, "hotkey": self.hotkey, "netuid": self.netuid, "network": self.network}


async def open_chain(settings: ChainSettings) -> chain_mod.Chain:
    """A connected chain for ``settings``: the embedded devnet, or a real network's node.

    The devnet package is imported only for ``--subtensor.network devnet``.
    """
    if settings.devnet:
        from neurons.devnet.connect import connect_devnet

        return await connect_devnet(settings.devnet_state, netuid=settings.netuid)
    return await chain_mod.connect(settings.network)


@contextlib.asynccontextmanager
async def registered_neuron(
    chain_settings: ChainSettings, wallet_settings: WalletSettings, *, chain: ChainAccess | None = None
) -> AsyncIterator[Registered]:
    c, w = chain_settings, wallet_settings
    wallet = chain_mod.load_wallet(w.name, w.hotkey, w.path)
    hotkey = wallet.hotkey.ss58_address
    owns_chain = chain is None
    if chain is None:
        chain = await open_chain(c)
    try:
        view = await chain.metagraph(c.netuid)
        uid = chain_mod.require_registered(
            view, hotkey, c.netuid, c.network, wallet_name=w.name, wallet_hotkey=w.hotkey,
            wallet_path=w.path, devnet_state=c.devnet_state,
        )
        yield Registered(wallet, hotkey, chain, view, uid, c.netuid, c.network)
    finally:
        if owns_chain:
            await chain.close()


def select_circuits(
    registry: CircuitRegistry, wanted: Sequence[str] | None, *, chain: ChainSettings
) -> list[Circuit]:
    """The circuits named in ``wanted`` (names or ids, in that order); all the loaded ones when empty.

    First logs one WARNING per folder of ``registry.broken`` (which, why, what to
    do): a broken folder never blocks the others. Raises ``CircuitUnavailable``
    (one line: which and why) when ``wanted`` names a broken circuit;
    ``CircuitNotFound`` naming the key that matches nothing and the names there
    are; then ``UntrustedSrs`` (one line: why, and what to do) when a chosen
    circuit is built on a self-generated SRS and ``chain`` does not trust those.
    """
    for bad in registry.broken:
        log.warning("%s", bad.warning)
    chosen = _chosen(registry, wanted)
    untrusted = [c.name for c in chosen if c.self_generated_srs]
    if untrusted and not chain.trusts_self_generated_srs:
        raise UntrustedSrs(
            f"refusing to run on {chain.network}: {_circuits_use(untrusted)} a self-generated SRS, "
            "and whoever generated it can forge proofs; rebuild against the "
            "public ceremony SRS (docs/custom_circuit_integration.md), or pass --srs.allow_self_generated "
            "if this is a private test subnet"
        )
    return chosen


def _circuits_use(names: list[str]) -> str:
    return f"circuit {names[0]} uses" if len(names) == 1 else f"circuits {', '.join(names)} use"


def _chosen(registry: CircuitRegistry, wanted: Sequence[str] | None) -> list[Circuit]:
    if not wanted:
        return list(registry)
    chosen = []
    for key in wanted:
        try:
            chosen.append(registry.by_name(key))
        except CircuitUnavailable:
            raise
        except CircuitNotFound:
            try:
                chosen.append(registry.get(key))
            except CircuitNotFound:
                have = ", ".join(c.name for c in registry)
                raise CircuitNotFound(f"no circuit named {key!r} or with that id (have: {have})") from None
    return chosen


@dataclass(frozen=True)
class Observability:
    metrics: Metrics
    run_logger: RunLogger


@contextlib.contextmanager
def observability(
    settings: ObservabilitySettings, *, component: str, config: dict[str, Any]
) -> Iterator[Observability]:
    """Fresh ``Metrics`` (served on ``settings.metrics_port`` unless 0) and a run logger."""
    log = logging.getLogger(component)
    s = settings
    metrics = Metrics()
    server = None
    run_logger: RunLogger = NullLogger()
    try:
        if s.metrics_port:
            server = serve_metrics(metrics.registry, port=s.metrics_port, addr=s.metrics_addr)
            log.info("metrics at %s", server.url)
        run_logger = make_run_logger(
            enabled=s.wandb_on, component=component, project=s.wandb_project, entity=s.wandb_entity,
            offline=s.wandb_offline, run_dir=s.wandb_dir, config=config,
        )
        yield Observability(metrics, run_logger)
    finally:
        if server is not None:
            server.stop()
        run_logger.finish()
