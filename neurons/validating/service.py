"""The validator daemon: settings from flags, the real collaborators, then the loop.

Start-up, in order: load the wallet (clear error when missing), connect to the
chain, check the hotkey is registered (the error names the btcli command; a
missing validator permit is only a warning), start the metrics endpoint and
run logger and create the state folder and, with ``--validator.receipts``, the
receipts folder (a taken port, wandb without a key or an unusable ``--state.dir``
fails here, as one line, before the slow steps),
with ``--api.port``, the API's callers (allowlist, key file: nobody at all is an error) and
its port (taken now, so a port in use fails before the slow steps), load and hash-check the circuits (refusing, off this machine, circuits built on a
self-generated SRS unless ``--srs.allow_self_generated``), read the subnet owner's circuit pin
(``neurons.shared.pins``: off this machine only pinned circuits are challenged; each round
reads it again), start the verifier worker(s). Then
``neurons.validating.loop.Validator`` runs rounds until SIGINT/SIGTERM or
``--validator.rounds``; with a fixed number of rounds the last averages are
pushed to the chain before exiting. The API (``neurons.validating.api`` over
``neurons.validating.dispatch``) is served from then on, in the same event loop,
sharing the loop's miner client, capabilities, verifier and miner slots.

Axons on loopback or private addresses are queried only on the devnet (where
every neuron announces such an address) or with
``--validator.allow_private_axons``; not merely because the chain node is on
this machine (``local`` may be a lite node synced to a real network).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
from dataclasses import dataclass
from pathlib import Path

import bittensor as bt

from execution_layer import CircuitRegistry
from neurons.chain import ChainAccess
from neurons.shared.http_server import bind, serving
from neurons.shared.pins import PinWatcher
from neurons.shared.settings import ChainSettings, ObservabilitySettings, WalletSettings
from neurons.shared.startup import observability, registered_neuron, select_circuits
from neurons.shared.version import VERSION_KEY, __version__
from neurons.validating.api import build_api_app
from neurons.validating.api_auth import AllowlistError, ApiAuthenticator, load_allowlist
from neurons.validating.api_keys import ApiKeys
from neurons.validating.api_limits import CallerLimits, LimitsConfig
from neurons.validating.capabilities import CapabilityBook
from neurons.validating.client import MinerClient
from neurons.validating.dispatch import Dispatcher
from neurons.validating.loop import Validator
from neurons.validating.receipts import ReceiptFolder
from neurons.validating.replay_guard import ReplayGuard
from neurons.validating.slots import MinerSlots
from neurons.validating.state import StateStore
from neurons.validating.verifier_pool import VerifierPool

__all__ = ["ApiSettings", "ValidatorSettings", "settings_from_args", "run_validator", "warn_if_outdated"]

log = logging.getLogger("validator")


@dataclass(frozen=True)
class ApiSettings:
    """The ``--api.*`` flags: the verified-inference API, off while ``port`` is 0."""

    port: int = 0
    host: str = "127.0.0.1"
    allow: tuple[str, ...] = ()
    allow_file: Path | None = None
    keys_file: Path | None = None
    limits: LimitsConfig = LimitsConfig()
    max_attempts: int = 3

    @property
    def enabled(self) -> bool:
        return self.port != 0

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> ApiSettings:
        return cls(
            port=args.api_port, host=args.api_host, allow=tuple(args.api_allow or ()),
            allow_file=args.api_allow_file.expanduser() if args.api_allow_file else None,
            keys_file=args.api_keys.expanduser() if args.api_keys else None,
            limits=LimitsConfig(per_minute=args.api_rate_limit, burst=args.api_burst,
                                max_concurrent=args.api_max_concurrent),
            max_attempts=args.api_max_attempts,
        )

    def authenticator(self, hotkey: str) -> ApiAuthenticator:
        """Who may call, read from the flags' files now. Raises ``AllowlistError`` /
        ``ApiKeyFileError`` for a file that cannot be used, or when nobody at all could call."""
        auth = ApiAuthenticator(
            hotkey=hotkey, allowlist=load_allowlist(self.allow, self.allow_file),
            keys=ApiKeys.load(self.keys_file) if self.keys_file is not None else None,
        )
        if not auth.anyone_may_call:
            raise AllowlistError(
                f"--api.port {self.port} is set but nobody may call the API: give --api.allow HOTKEY, "
                "--api.allow_file FILE or --api.keys FILE (python -m neurons.validating.api_keys add FILE NAME)"
            )
        return auth


@dataclass(frozen=True)
class ValidatorSettings:
    chain: ChainSettings
    wallet: WalletSettings
    observability: ObservabilitySettings
    concurrency: int
    verify_workers: int
    round_interval: float
    rounds: int
    circuits: tuple[str, ...] | None
    srs_dir: Path | None
    state_dir: Path
    min_stake: float = 0.0  # --validator.min_stake, else the chain's default (the miner's)
    private_axons_flag: bool = False  # --validator.allow_private_axons
    receipts_dir: Path | None = None  # --validator.receipts: keep receipts there (None: keep none)
    receipts_max_bytes: int = 1 << 30  # --validator.receipts_max_mb, in bytes
    api: ApiSettings = ApiSettings()  # --api.*

    @property
    def allow_private_axons(self) -> bool:
        """Query miners at loopback/private addresses: on the devnet, or when the flag asks for it."""
        return self.chain.devnet or self.private_axons_flag

    @property
    def run_dir(self) -> Path:
        """This validator's folder for state.json and reports.jsonl (one per network, subnet, hotkey)."""
        c, w = self.chain, self.wallet
        return self.state_dir / f"{c.network}-{c.netuid}-{w.name}-{w.hotkey}"


def settings_from_args(args: argparse.Namespace) -> ValidatorSettings:
    """The validator's settings; ``min_stake`` defaults to the miner's default on this chain."""
    chain = ChainSettings.from_args(args)
    return ValidatorSettings(
        chain=chain,
        wallet=WalletSettings.from_args(args),
        observability=ObservabilitySettings.from_args(args),
        concurrency=args.concurrency,
        verify_workers=args.verify_workers,
        round_interval=args.round_interval,
        rounds=args.rounds,
        circuits=tuple(args.circuits) if args.circuits else None,
        srs_dir=args.srs_dir,
        state_dir=args.state_dir.expanduser(),
        min_stake=args.min_stake if args.min_stake is not None else chain.default_min_stake,
        private_axons_flag=args.allow_private_axons,
        receipts_dir=args.receipts_dir.expanduser() if args.receipts_dir else None,
        receipts_max_bytes=int(args.receipts_max_mb * 1024 * 1024),
        api=ApiSettings.from_args(args),
    )


def warn_if_outdated(required: int, own: int) -> bool:
    """Warn (and return True) when the subnet's ``weights_version_key`` is above this release's.

    The chain rejects every weight write whose version key is below the subnet's
    (``IncorrectWeightVersionKey``); a subnet owner raises it to turn away validators
    of older releases. This release's key is ``neurons.shared.version.VERSION_KEY``,
    derived from ``__version__`` (``MAJOR*10000 + MINOR*100 + PATCH``).
    """
    if required <= own:
        return False
    log.warning(
        "the subnet requires weights version key %d and this validator sends %d (release %s): the "
        "chain will reject every weight write; update to the subnet's current release (git pull, "
        "./setup.sh) and restart", required, own, __version__,
    )
    return True


async def run_validator(
    settings: ValidatorSettings, *, stop: asyncio.Event | None = None, chain: ChainAccess | None = None
) -> None:
    """Build the real collaborators and run rounds until ``stop`` or ``settings.rounds``.

    Raises ``ChainFailure`` / ``ExecutionError`` / ``RunLoggerError`` /
    ``OSError`` for what an operator must fix (wallet, registration, chain,
    circuit files, wandb key, a taken metrics port, a ``--validator.receipts`` folder
    that cannot be made) before any round starts, and ``StateError`` when the state folder is not writable (also before any
    round) or a corrupt state file cannot be moved aside.
    ``chain`` replaces the connection to ``settings.chain.network`` (tests); an
    injected chain is not closed here.
    """
    s = settings
    try:
        async with contextlib.AsyncExitStack() as stack:
            me = await stack.enter_async_context(registered_neuron(s.chain, s.wallet, chain=chain))
            mine = me.view.by_uid(me.uid)
            log.info("hotkey %s is uid %d on netuid %d (%s), stake %.2f", me.hotkey, me.uid, me.netuid,
                     me.network, mine.stake if mine else 0.0)
            if mine is not None and not mine.validator_permit:
                log.warning(
                    "uid %d has no validator permit: miners will refuse its requests and the chain its "
                    "weights until it holds enough stake to get one; rounds are skipped until then", me.uid,
                )
            warn_if_outdated(await me.chain.weights_version_key(me.netuid), VERSION_KEY)
            # Operator settings that can fail (port taken, wandb key missing, state folder
            # not writable) fail before the slow part.
            obs = stack.enter_context(
                observability(s.observability, component="validator", config=me.run_config())
            )
            store = StateStore(s.run_dir / "state.json")
            store.check_writable()
            receipts = None
            if s.receipts_dir is not None:
                # Made now, so a folder that cannot be created stops start-up, not a round.
                receipts = ReceiptFolder(
                    s.receipts_dir, max_bytes=s.receipts_max_bytes,
                    signer=bt.resolve_signer(me.wallet, role="hotkey"),
                )

            api_auth, api_sock = None, None
            if s.api.enabled:
                # Who may call, and the port, fail here: before the slow part.
                api_auth = s.api.authenticator(me.hotkey)
                api_sock = bind(s.api.host, s.api.port, flag="--api.port")
                stack.callback(api_sock.close)  # if start-up fails before the server takes it

            registry = CircuitRegistry.load(srs_dir=s.srs_dir)
            circuits = select_circuits(registry, s.circuits, chain=s.chain)
            pins = PinWatcher(circuits, chain=me.chain, netuid=me.netuid, network=me.network,
                              enforce=s.chain.enforces_pins, role="challenged")
            await pins.refresh()  # said at start; each round polls again
            verifier = VerifierPool(srs_dir=s.srs_dir, workers=s.verify_workers)
            stack.push_async_callback(verifier.aclose)
            await verifier.warm_up()

            client = await stack.enter_async_context(MinerClient(me.wallet))
            capabilities = CapabilityBook(client)
            stack.push_async_callback(capabilities.aclose)  # before the client closes
            slots = MinerSlots()
            validator = Validator(
                wallet=me.wallet, chain=me.chain, netuid=me.netuid, circuits=circuits, client=client,
                verify=verifier.verify, store=store, guard=ReplayGuard(),
                version_key=VERSION_KEY, metrics=obs.metrics, run_logger=obs.run_logger,
                concurrency=s.concurrency, allow_private_axons=s.allow_private_axons, min_stake=s.min_stake,
                reports_path=s.run_dir / "reports.jsonl", receipts=receipts, capabilities=capabilities,
                pins=pins,
                slots=slots,
            )
            log.info("validating with circuits %s; state in %s%s", ", ".join(c.name for c in circuits),
                     s.run_dir, "; private axons allowed" if s.allow_private_axons else "")
            if api_auth is not None and api_sock is not None:
                dispatcher = Dispatcher(
                    hotkey=me.hotkey, directory=validator, capabilities=capabilities, client=client,
                    verify=verifier.verify, slots=slots,
                    signer=bt.resolve_signer(me.wallet, role="hotkey"), min_stake=s.min_stake,
                    allow_private_axons=s.allow_private_axons, receipts=receipts, metrics=obs.metrics,
                    max_attempts=s.api.max_attempts,
                )
                app = build_api_app(circuits=circuits, answer=dispatcher.answer, auth=api_auth,
                                    limits=CallerLimits(s.api.limits), metrics=obs.metrics)
                await stack.enter_async_context(serving(app, api_sock))
                log.info("verified-inference API on http://%s:%d%s (%d hotkeys allowed, %d API keys)",
                         s.api.host, s.api.port, "/v1/infer", len(api_auth.allowlist), len(api_auth.keys))
            await validator.run(rounds=s.rounds, round_interval=s.round_interval, stop=stop)
            if s.rounds:
                await validator.set_final_weights(stop)
    finally:
        log.info("validator stopped")
