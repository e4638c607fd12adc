"""Command-line flags of the neurons, as pm2 users type them.

The flag names follow the bittensor convention operators already know
(``--wallet.name``, ``--subtensor.network``, ``--axon.port``); argparse keeps
the dotted name as the option string and a plain ``dest`` for code. Every flag
has help text: ``docs/command_line_arguments.md`` is generated from these
parsers (``python -m neurons.shared.config``) and a test fails when the two drift.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from execution_layer import DEFAULT_KEY_CACHE
from neurons.chain import DEFAULT_DEVNET_STATE, DEFAULT_WALLET_PATH
from protocol import MAX_API_ATTEMPTS
from utils.log import add_logging_args
from utils.wandb_log import add_wandb_args

__all__ = [
    "DEFAULT_NETUID",
    "DEFAULT_NETWORK",
    "DEFAULT_STATE_DIR",
    "miner_parser",
    "validator_parser",
    "localnet_parser",
    "markdown_reference",
    "add_chain_args",
    "add_wallet_args",
]

DEFAULT_NETUID = 2
DEFAULT_NETWORK = "finney"
DEFAULT_STATE_DIR = "~/.bittensor/proof-of-inference"


_N = TypeVar("_N", int, float)


def _bounded(
    kind: type[_N], low: float | None = None, high: float | None = None, what: str = ""
) -> Callable[[str], _N]:
    """An argparse type that parses ``kind`` and checks ``low <= value <= high``.

    A value out of range is a usage error (exit 2) before anything starts,
    not a traceback after the slow start-up.
    """

    def parse(text: str) -> _N:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"invalid {kind.__name__} value: {text!r}") from None
        if value != value or (low is not None and value < low) or (high is not None and value > high):
            raise argparse.ArgumentTypeError(f"{text} is not {what}")
        return value

    parse.__name__ = kind.__name__  # argparse names the type in its messages
    return parse


_netuid = _bounded(int, 0, 65535, "a netuid (0-65535)")
_port = _bounded(int, 1, 65535, "a TCP port (1-65535)")
_port_or_off = _bounded(int, 0, 65535, "a TCP port (1-65535) or 0 for off")
_count = _bounded(int, 1, None, "a whole number of at least 1")
_non_negative = _bounded(int, 0, None, "a whole number of at least 0")
_seconds = _bounded(float, 0.0, None, "a number of seconds (0 or more)")
_interval = _bounded(float, 0.05, None, "a number of seconds (at least 0.05)")
_stake = _bounded(float, 0.0, None, "a stake (0 or more)")
_megabytes = _bounded(float, 0.001, None, "a size in megabytes (at least 0.001)")


class _Formatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Shows defaults next to each flag and keeps the description's line breaks."""


def _add_chain(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("chain")
    g.add_argument(
        "--netuid", dest="netuid", type=_netuid, default=DEFAULT_NETUID,
        help="Subnet id the neuron works on.",
    )
    g.add_argument(
        "--subtensor.network", dest="network", default=DEFAULT_NETWORK,
        help="Chain to use: finney (main network), test (testnet), local (a subtensor node on "
        "ws://127.0.0.1:9944), a ws:// or wss:// endpoint, or devnet (the embedded local "
        "network kept in a SQLite file, no node needed). Off this machine (finney, test, a remote "
        "node) a circuit outside the subnet owner's on-chain pin is neither served nor challenged; "
        "on devnet, local or a loopback URL it is logged and still runs (python -m neurons.pins).",
    )
    g.add_argument(
        "--subtensor.devnet_state", dest="devnet_state", type=Path,
        default=DEFAULT_DEVNET_STATE,
        help="State file of the embedded devnet; only read with --subtensor.network devnet. "
        "Must exist: python -m neurons.devnet create-subnet (or neurons/localnet.py) creates it.",
    )


def _add_wallet(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("wallet")
    g.add_argument(
        "--wallet.name", dest="wallet_name", default="default",
        help="Name of the wallet (the coldkey folder under --wallet.path).",
    )
    g.add_argument(
        "--wallet.hotkey", dest="wallet_hotkey", default="default",
        help="Name of the hotkey inside the wallet; it must be registered on --netuid.",
    )
    g.add_argument(
        "--wallet.path", dest="wallet_path", type=Path, default=DEFAULT_WALLET_PATH,
        help="Folder that holds the wallets.",
    )


add_chain_args = _add_chain  # for the tools that share the daemons' chain flags (neurons.pins)
add_wallet_args = _add_wallet


def _add_common(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("operations")
    add_logging_args(g)
    g.add_argument(
        "--keys.cache", dest="key_cache", type=Path, default=None,
        help="Where derived proving keys are cached (derived once per circuit, checked "
        f"against the pinned verifying key). Default: $POI_KEY_CACHE, else {DEFAULT_KEY_CACHE}.",
    )
    g.add_argument(
        "--srs.dir", dest="srs_dir", type=Path, default=None,
        help="Folder of the KZG SRS files the circuits were built against, one per size "
        "(kzg<logrows>.srs, as each manifest names it); always checked against the manifests' "
        "pinned hashes. Default: models/srs.",
    )
    g.add_argument(
        "--srs.allow_self_generated", dest="srs_allow_self_generated", action="store_true",
        help="Run circuits built on a self-generated SRS (such as the shipped one) on a network "
        "that is not on this machine. Only for a private test subnet: whoever generated the SRS "
        "can forge proofs. Not needed on devnet, local or a ws:// URL to this machine.",
    )
    g.add_argument(
        "--metrics.port", dest="metrics_port", type=_port_or_off, default=0,
        help="Serve Prometheus metrics on this port at /metrics; 0 turns the endpoint off.",
    )
    g.add_argument(
        "--metrics.addr", dest="metrics_addr", default="127.0.0.1", metavar="IP",
        help="The address the metrics endpoint binds (default 127.0.0.1: this machine only). "
        "Give 0.0.0.0 (or one interface's address) to let a Prometheus on another host scrape it, "
        "and firewall the port to that host: the endpoint serves at most 8 connections at once.",
    )
    add_wandb_args(g)


def miner_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="neurons/miner.py",
        formatter_class=_Formatter,
        description="Proof-of-inference miner: proves ONNX inference with EZKL for validators.\n\n"
        "Serves signed HTTP requests from registered validators, proves in a worker process and\n"
        "announces its ip:port on chain. Register first: btcli subnets register --netuid 2.",
    )
    _add_chain(p)
    _add_wallet(p)
    g = p.add_argument_group("axon (the miner's HTTP server)")
    g.add_argument(
        "--axon.ip", dest="axon_ip", default="0.0.0.0",
        help="Address the HTTP server binds to.",
    )
    g.add_argument(
        "--axon.port", dest="axon_port", type=_port, default=8091,
        help="Port the HTTP server listens on.",
    )
    g.add_argument(
        "--axon.external_ip", dest="axon_external_ip", default=None,
        help="Public IP announced on chain (the SDK does not detect it). Required on real "
        "networks; defaults to 127.0.0.2 on the devnet (the chain refuses 127.0.0.1).",
    )
    g.add_argument(
        "--axon.external_port", dest="axon_external_port", type=_port, default=None,
        help="Public port announced on chain when it differs from --axon.port (port forwarding).",
    )
    g = p.add_argument_group("miner")
    g.add_argument(
        "--miner.circuits", dest="circuits", nargs="*", default=None,
        help="Names or ids of the circuits to serve. Default: every shipped circuit. Validators "
        "challenge with every circuit, so a request for one left out scores 0.",
    )
    g.add_argument(
        "--miner.max_queue", dest="max_queue", type=_non_negative, default=4,
        help="Requests waiting per lane (per circuit, with enough workers) beyond which the miner "
        "answers 503 at once.",
    )
    g.add_argument(
        "--miner.workers", dest="workers", type=_count, default=None,
        help="Prover worker processes, split into lanes. Default: one per served circuit, so "
        "each circuit queues on a worker of its own and a slow circuit never delays or refuses a "
        "fast one; with fewer, circuits share lanes (1: all share one). Each worker holds its "
        "own prover in memory; EZKL uses every core for one proof, so lanes add isolation "
        "rather than throughput (docs/hardware.md).",
    )
    g.add_argument(
        "--miner.min_stake", dest="min_stake", type=_stake, default=None,
        help="Least stake a validator must hold for the miner to serve it. "
        "Default: 1000 on real networks, 0 on the devnet.",
    )
    g.add_argument(
        "--miner.extra_latency", dest="extra_latency", type=_seconds, default=0.0,
        help="Seconds added before answering each proof request. For demonstrations and "
        "tests of scoring only: it lowers the miner's score.",
    )
    g.add_argument(
        "--miner.resync_interval", dest="resync_interval", type=_interval, default=60.0,
        help="Seconds between metagraph refreshes (validator permits and stakes).",
    )
    _add_common(p)
    return p


def validator_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="neurons/validator.py",
        formatter_class=_Formatter,
        description="Proof-of-inference validator: challenges miners with fresh inputs, verifies\n"
        "their proofs against its own inputs, scores them and sets weights on chain.\n\n"
        "Needs a registered hotkey with a validator permit: btcli subnets register --netuid 2.",
    )
    _add_chain(p)
    _add_wallet(p)
    g = p.add_argument_group("validator")
    g.add_argument(
        "--validator.concurrency", dest="concurrency", type=_count, default=256,
        help="Miners queried at the same time (default: every uid of a full subnet at once, so "
        "miners that never answer cost a round one timeout in all; waiting is cheap, and "
        "verification is bounded by --validator.verify_workers, not by this).",
    )
    g.add_argument(
        "--validator.verify_workers", dest="verify_workers", type=_count, default=1,
        help="Worker processes that verify proofs.",
    )
    g.add_argument(
        "--validator.round_interval", dest="round_interval", type=_seconds, default=12.0,
        help="Least seconds between the starts of two rounds over the miners.",
    )
    g.add_argument(
        "--validator.rounds", dest="rounds", type=_non_negative, default=0,
        help="Stop after this many rounds (0 runs until stopped).",
    )
    g.add_argument(
        "--validator.circuits", dest="circuits", nargs="*", default=None,
        help="Names or ids of the circuits to challenge with. Default: every shipped circuit.",
    )
    g.add_argument(
        "--validator.allow_private_axons", dest="allow_private_axons", action="store_true",
        help="Also query miners whose axon is on a loopback or private address (127.0.0.1, "
        "10.x, 192.168.x, ...), for a test network on one machine or a LAN. Always on with "
        "--subtensor.network devnet; off otherwise, also for local, whose node may be a copy of "
        "a real network: there a miner could point the validator at services on its own network.",
    )
    g.add_argument(
        "--validator.min_stake", dest="min_stake", type=_stake, default=None,
        help="Least stake miners require of a validator (their --miner.min_stake). Each round the "
        "validator checks its own neuron: unregistered, without a validator permit or with less "
        "stake, it challenges no miner and sets no weights (miners would refuse it with 403) and "
        "warns why. Default: 1000 on real networks, 0 on the devnet, as the miner's default.",
    )
    g.add_argument(
        "--validator.receipts", dest="receipts_dir", type=Path, default=None,
        help="Keep a signed receipt of every verified answer in this folder (one JSON file each, "
        "checkable offline with `python -m receipts verify FILE`; see docs/receipts.md). Off by "
        "default. A receipt that cannot be written is one warning; the round goes on.",
    )
    g.add_argument(
        "--validator.receipts_max_mb", dest="receipts_max_mb", type=_megabytes, default=1024.0,
        help="Most megabytes of receipts kept in --validator.receipts; the oldest are deleted first.",
    )
    g.add_argument(
        "--state.dir", dest="state_dir", type=Path, default=Path(DEFAULT_STATE_DIR),
        help="Folder for the validator's persistent state (scores, reports).",
    )
    _add_api(p)
    _add_common(p)
    return p


def _add_api(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("api (verified inference for clients: docs/verified_inference_api.md)")
    g.add_argument(
        "--api.port", dest="api_port", type=_port_or_off, default=0,
        help="Serve the verified-inference API (POST /v1/infer) on this port; 0 turns it off. Needs "
        "--api.allow, --api.allow_file or --api.keys: nobody may call it unauthenticated.",
    )
    g.add_argument(
        "--api.host", dest="api_host", default="127.0.0.1", metavar="IP",
        help="The address the API binds (default: this machine only). For public use keep it on "
        "127.0.0.1 and put a TLS reverse proxy in front (docs/verified_inference_api.md).",
    )
    g.add_argument(
        "--api.allow", dest="api_allow", nargs="*", default=(), metavar="HOTKEY",
        help="Hotkeys (ss58) that may call the API with requests signed by bittensor.http_auth.",
    )
    g.add_argument(
        "--api.allow_file", dest="api_allow_file", type=Path, default=None, metavar="FILE",
        help="A file of hotkeys that may call the API: one ss58 address a line, # comments.",
    )
    g.add_argument(
        "--api.keys", dest="api_keys", type=Path, default=None, metavar="FILE",
        help="API keys that may call it (Authorization: Bearer KEY): a file of their SHA-256 hashes, made "
        "with `python -m neurons.validating.api_keys add FILE NAME` (prints the key once). Read at start.",
    )
    g.add_argument(
        "--api.rate_limit", dest="api_rate_limit", type=_bounded(float, 0.001, None, "a rate (above 0)"),
        default=60.0, metavar="PER_MINUTE",
        help="Requests a minute each caller (key or hotkey) may make; more are answered 429 with Retry-After.",
    )
    g.add_argument(
        "--api.burst", dest="api_burst", type=_count, default=10,
        help="Requests a caller may make at once above its rate limit, from a rested start.",
    )
    g.add_argument(
        "--api.max_concurrent", dest="api_max_concurrent", type=_count, default=4,
        help="Requests of one caller in the API at the same time; one more is answered 429.",
    )
    g.add_argument(
        "--api.max_attempts", dest="api_max_attempts", type=_bounded(int, 1, MAX_API_ATTEMPTS, f"a whole number from 1 to {MAX_API_ATTEMPTS}"),
        default=3,
        help="Miners asked at most for one request (the next when one fails or is late), within the "
        f"client's deadline; then 503 naming each miner tried and why it failed. At most {MAX_API_ATTEMPTS}.",
    )


def localnet_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="neurons/localnet.py",
        formatter_class=_Formatter,
        description="Run a whole subnet on this machine: an embedded devnet, N miners and one\n"
        "validator as separate processes on localhost, then print what happened.",
    )
    p.add_argument("--miners", type=_count, default=3, help="Number of miners to start.")
    p.add_argument(
        "--rounds", type=_count, default=3,
        help="Validator rounds to run before printing the results and exiting.",
    )
    p.add_argument(
        "--heavy", action="store_true",
        help="Also run the heavy circuits (a proof over 2 s on a 2-core miner, such as the recurrent "
        "and attention models); by default the local subnet runs the light ones only, to stay quick.",
    )
    p.add_argument(
        "--forever", action="store_true",
        help="Keep running (printing the table after every round) until Ctrl-C.",
    )
    p.add_argument(
        "--slow-miner-latency", dest="slow_latency", type=_seconds, default=1.5,
        help="Extra seconds the last miner waits before answering, so the table shows "
        "response time in the scores (0 makes every miner honest and equal).",
    )
    p.add_argument(
        "--round-interval", dest="round_interval", type=_seconds, default=2.0,
        help="Least seconds between the starts of two validator rounds.",
    )
    p.add_argument(
        "--start-timeout", dest="start_timeout", type=_interval, default=300.0,
        help="Seconds the miners may take to start (the first start derives proving keys).",
    )
    p.add_argument(
        "--workdir", type=Path, default=Path("run/localnet"),
        help="Folder for the devnet state, wallets, logs and validator state; wiped at start.",
    )
    p.add_argument(
        "--base-port", dest="base_port", type=_port, default=18091,
        help="First miner's HTTP port; the others follow.",
    )
    p.add_argument(
        "--block-time", dest="block_time", type=_interval, default=1.0,
        help="Seconds per devnet block.",
    )
    p.add_argument(
        "--keys.cache", dest="key_cache", type=Path, default=None,
        help=f"Where derived proving keys are cached. Default: $POI_KEY_CACHE, else {DEFAULT_KEY_CACHE}.",
    )
    add_logging_args(p)
    return p


def markdown_reference() -> str:
    """The flags of every entry script as Markdown (docs/command_line_arguments.md)."""
    lines = [
        "# Command-line arguments",
        "",
        "Generated from the argument parsers by `python -m neurons.shared.config > "
        "docs/command_line_arguments.md`; a test fails when this file drifts from them.",
        "",
    ]
    for parser in (miner_parser(), validator_parser(), localnet_parser()):
        lines += [f"## `{parser.prog}`", "", (parser.description or "").replace("\n", " "), ""]
        lines += ["| flag | default | meaning |", "| --- | --- | --- |"]
        for action in parser._actions:
            if isinstance(action, argparse._HelpAction):
                continue
            flag = ", ".join(f"`{s}`" for s in action.option_strings)
            default = "" if action.default is None or action.default is False else f"`{action.default}`"
            lines.append(f"| {flag} | {default} | {action.help} |")
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    print(markdown_reference(), end="")
