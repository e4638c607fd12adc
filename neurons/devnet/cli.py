"""``python -m neurons.devnet <command>``: administer the embedded devnet.

Mirrors btcli's workflow (``btcli wallet create``, ``btcli subnets register``,
``btcli subnets metagraph``) against the SQLite devnet. Errors print one line
to stderr and exit 1; bad flags exit 2 (argparse).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import sys
from pathlib import Path
from typing import Sequence

from neurons.chain import DEFAULT_DEVNET_STATE, DEFAULT_WALLET_PATH, ChainFailure, load_wallet

from . import admin
from .profiles import FINNEY_BLOCK_TIME, PROFILES
from .runtime import HYPERPARAMETERS, SubnetParams
from .store import DEFAULT_BLOCK_TIME

__all__ = ["main", "build_parser"]

_DEFAULTS = SubnetParams()
_FINNEY = PROFILES["finney"].params
# create-subnet flag (argparse dest) -> SubnetParams field
_PARAM_FLAGS = {
    "tempo": "tempo", "weights_rate_limit": "weights_rate_limit",
    "min_allowed_weights": "min_allowed_weights", "max_weights_limit": "max_weights_limit",
    "max_uids": "max_uids", "serving_rate_limit": "serving_rate_limit",
    "max_allowed_validators": "max_allowed_validators", "immunity_period": "immunity_period",
    "min_non_immune_uids": "min_non_immune_uids", "commit_reveal": "commit_reveal_weights_enabled",
    "commit_reveal_period": "commit_reveal_period", "yuma3": "yuma3_enabled",
}


def _common(*, suppress: bool) -> argparse.ArgumentParser:
    """--state/--wallet.path, accepted before or after the command.

    The per-command copy uses SUPPRESS defaults so it never overwrites a value
    given before the command name.
    """
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--state",
        type=Path,
        default=argparse.SUPPRESS if suppress else None,
        help=f"devnet state file (SQLite), shared by every process on this chain "
        f"(default: {DEFAULT_DEVNET_STATE})",
    )
    common.add_argument(
        "--wallet.path",
        dest="wallet_path",
        type=Path,
        default=argparse.SUPPRESS if suppress else DEFAULT_WALLET_PATH,
        help=f"directory holding wallets (default: {DEFAULT_WALLET_PATH})",
    )
    return common


def build_parser() -> argparse.ArgumentParser:
    common = _common(suppress=True)
    wallet = argparse.ArgumentParser(add_help=False)
    wallet.add_argument(
        "--wallet.name", dest="wallet_name", required=True, help="wallet (coldkey) name"
    )
    wallet.add_argument(
        "--wallet.hotkey", dest="wallet_hotkey", default="default",
        help="hotkey name inside the wallet (default: default)",
    )
    netuid = argparse.ArgumentParser(add_help=False)
    netuid.add_argument("--netuid", type=int, required=True, help="subnet id")

    parser = argparse.ArgumentParser(
        prog="python -m neurons.devnet",
        description="Administer the embedded devnet: a local chain in one SQLite file that the "
        "real bittensor SDK talks to. Start with create-subnet, wallet-create, register.",
        parents=[_common(suppress=False)],
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser(
        "create-subnet", parents=[common, netuid],
        help="create a subnet (and set the chain's block time)",
        description="Create a subnet with the given hyperparameters.",
    )
    p.add_argument("--profile", choices=sorted(PROFILES), default="local",
                   help="the hyperparameters to start from; every flag below overrides its own. "
                   + "; ".join(f"{name}: {prof.description}" for name, prof in sorted(PROFILES.items()))
                   + " (default: local)")
    # Each flag's default is None: "the profile's value", told apart from an explicit one.
    p.add_argument("--tempo", type=int, default=None,
                   help=f"blocks between epochs (local: {_DEFAULTS.tempo}, finney: {_FINNEY.tempo})")
    p.add_argument("--weights-rate-limit", type=int, default=None,
                   help="blocks a validator must wait between weight updates "
                   f"(local: {_DEFAULTS.weights_rate_limit}, finney: {_FINNEY.weights_rate_limit})")
    p.add_argument("--serving-rate-limit", type=int, default=None,
                   help="blocks a neuron must wait between axon announcements; 0 is no limit "
                   f"(default: {_DEFAULTS.serving_rate_limit}, the chain's)")
    p.add_argument("--min-allowed-weights", type=int, default=None,
                   help="fewest weights a set may carry, zeros counted, at most the "
                   f"subnet's size (default: {_DEFAULTS.min_allowed_weights})")
    p.add_argument("--max-weights-limit", type=int, default=None,
                   help="largest share of the total one weight may take, in 65535ths; "
                   f"65535 is no limit (default: {_DEFAULTS.max_weights_limit}; finney applies none)")
    p.add_argument("--max-uids", type=int, default=None,
                   help=f"neuron slots on the subnet (default: {_DEFAULTS.max_uids})")
    p.add_argument("--max-allowed-validators", type=int, default=None,
                   help="validator permits each epoch gives: the top this many by stake "
                   f"(local: {_DEFAULTS.max_allowed_validators}, the runtime's; finney: "
                   f"{_FINNEY.max_allowed_validators}, set for every new subnet)")
    p.add_argument("--immunity-period", type=int, default=None,
                   help="blocks after registering during which a uid is pruned only if no "
                   "other uid may be, when a registration finds the subnet full "
                   f"(local: {_DEFAULTS.immunity_period}, the runtime's; finney: {_FINNEY.immunity_period})")
    p.add_argument("--min-non-immune-uids", type=int, default=None,
                   help="a full subnet prunes a non-immune uid only while more than this many "
                   "non-immune, non-owner uids remain; otherwise the lowest-scored immune one "
                   f"(default: {_DEFAULTS.min_non_immune_uids}, the chain's)")
    p.add_argument("--no-commit-reveal", dest="commit_reveal", action="store_false", default=None,
                   help="weights are set in plaintext instead of committed and revealed an epoch "
                   "later (default: commit-reveal on, as on finney)")
    p.add_argument("--commit-reveal-period", type=int, default=None,
                   help="epochs from a commit to its reveal, 1..100 (RevealPeriodEpochs; "
                   f"default: {_DEFAULTS.commit_reveal_period})")
    yuma3 = p.add_mutually_exclusive_group()
    yuma3.add_argument("--yuma3", dest="yuma3", action="store_true", default=None,
                       help="the epoch runs Yuma3 bonds (subtensor Yuma3On; default: on, as "
                       "init_new_network sets it for every new subnet, finney's included)")
    yuma3.add_argument("--no-yuma3", dest="yuma3", action="store_false", default=None,
                       help="the epoch runs the original Yuma bonds (the runtime's storage default "
                       "InitialYuma3On, for subnets from before init_new_network set it)")
    p.add_argument("--block-time", type=float, default=None,
                   help="seconds per block for the whole chain; a new chain defaults to "
                   f"{DEFAULT_BLOCK_TIME:g} (with --profile finney: finney's {FINNEY_BLOCK_TIME:g}), an "
                   "existing one keeps its own unless given. The rules count blocks, so a shorter "
                   "block runs finney's rules faster with the same ratios")

    sub.add_parser(
        "wallet-create", parents=[common, wallet],
        help="create an unencrypted coldkey/hotkey (like btcli wallet create --no-password)",
        description="Create the wallet's coldkey (if absent) and hotkey (if absent), no password.",
    )
    sub.add_parser(
        "register", parents=[common, wallet, netuid],
        help="register the wallet's hotkey on a subnet (like btcli subnets register)",
        description="Register by burned_register, signed by the wallet's coldkey.",
    )
    p = sub.add_parser(
        "stake", parents=[common, wallet, netuid],
        help="stake TAO from the coldkey to its hotkey (like btcli stake add)",
        description="Stake from the wallet's coldkey to its hotkey "
        "(devnet balances are unlimited).",
    )
    p.add_argument("--amount", type=float, required=True, help="TAO to stake")
    p = sub.add_parser(
        "permit", parents=[common, wallet, netuid],
        help="override the wallet's hotkey's validator permit (devnet admin only)",
        description="Grant (or with --revoke, remove) the hotkey's validator permit now. Each "
        "epoch otherwise gives permits by stake rank (the top max_validators with stake at or "
        "above the stake threshold); a granted or revoked override wins over that rank at every "
        "epoch until --clear.",
    )
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--revoke", action="store_true",
                      help="remove the permit and keep it removed, whatever the stake")
    mode.add_argument("--clear", action="store_true",
                      help="drop the override: from the next epoch the stake rank decides")
    p = sub.add_parser(
        "set-stake-threshold", parents=[common],
        help="set the chain-wide stake a validator needs for a permit (like root's "
        "sudo_set_stake_threshold)",
        description="Set the stake threshold for the whole chain (subtensor's StakeThreshold, "
        "default 0): at each epoch, stake under it counts as none, so it earns no permit.",
    )
    p.add_argument("--amount", type=float, required=True, help="the threshold in TAO")
    p = sub.add_parser(
        "set-hyperparameter", parents=[common, netuid],
        help="change a hyperparameter of a running subnet (like btcli sudo set)",
        description="Change one hyperparameter of a running subnet; neurons see it at their next "
        "chain read. Names as the SDK and btcli use them.",
    )
    p.add_argument("--name", required=True, choices=sorted(HYPERPARAMETERS), help="the hyperparameter")
    p.add_argument("--value", type=int, required=True,
                   help="its new value (a whole number; 0 or 1 for commit_reveal_weights_enabled "
                   "and yuma3_enabled)")
    p = sub.add_parser(
        "deregister", parents=[common, wallet, netuid],
        help="deregister the wallet's hotkey: another wallet's hotkey takes its uid (devnet admin)",
        description="Deregister the wallet's hotkey from the subnet the way the chain does when a "
        "registration on a full subnet prunes it (subtensor replace_neuron): the replacement "
        "hotkey takes the uid, with a new registration block; axon, weights, stake, permit, "
        "incentive are cleared.",
    )
    p.add_argument("--replacement.name", dest="replacement_name", required=True,
                   help="wallet whose hotkey takes the uid")
    p.add_argument("--replacement.hotkey", dest="replacement_hotkey", default="default",
                   help="hotkey name inside the replacement wallet (default: default)")
    p = sub.add_parser(
        "swap-hotkey", parents=[common, wallet],
        help="move the wallet's hotkey to a new hotkey of the same coldkey (like btcli wallet "
        "swap-hotkey)",
        description="Swap the wallet's hotkey for another hotkey of the same wallet on every "
        "subnet: the uid, its registration block, axon and stake move to the new hotkey.",
    )
    p.add_argument("--new-hotkey", dest="new_hotkey", required=True,
                   help="name of the new hotkey inside the same wallet (create it with wallet-create)")
    sub.add_parser(
        "reveals", parents=[common, netuid],
        help="print what became of each weight commit at its reveal, and the pending ones",
        description="Print each timelocked weight commit's committed block, reveal block, hotkey "
        "and outcome: revealed, or dropped with the subtensor error and why (the chain drops a "
        "failed reveal silently; the devnet records it). Then the commits still pending.",
    )
    sub.add_parser(
        "metagraph", parents=[common, netuid],
        help="print the subnet's neurons (like btcli subnets metagraph)",
        description="Print uid, hotkey, stake, permit, axon, incentive, last update, whether a "
        "registration on a full subnet may prune it (IMMUNE: owner, yes while in its immunity "
        "period, no), weights.",
    )
    return parser


def _duration(seconds: float) -> str:
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    if seconds >= 60:
        return f"{seconds / 60:.1f} min"
    return f"{seconds:g} s"


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        print(_run(args))
    except (admin.DevnetError, ChainFailure) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


def _run(args: argparse.Namespace) -> str:
    if args.command == "create-subnet":
        chosen = PROFILES[args.profile]
        given = {field: getattr(args, flag) for flag, field in _PARAM_FLAGS.items()
                 if getattr(args, flag) is not None}
        params = dataclasses.replace(chosen.params, **given)
        # The profile's block time is for a new chain only: block time is chain-wide, and a
        # subnet added to a running chain must not change every other subnet's clock.
        new_chain = not (args.state or DEFAULT_DEVNET_STATE).expanduser().exists()
        block_time = args.block_time if args.block_time is not None else (
            chosen.block_time if new_chain else None)
        block = admin.create_subnet(
            args.netuid, state=args.state, params=params, block_time=block_time
        )
        seconds = admin.block_time(args.state)
        epoch = params.tempo * seconds
        return (
            f"created subnet {args.netuid} at block {block} (profile {chosen.name}: {params}); "
            f"blocks of {seconds:g} s, an epoch every {params.tempo} blocks ({_duration(epoch)})"
        )
    if args.command == "wallet-create":
        wallet = admin.wallet_create(args.wallet_name, args.wallet_hotkey, args.wallet_path)
        return (
            f"wallet {args.wallet_name}/{args.wallet_hotkey}: coldkey "
            f"{wallet.coldkeypub.ss58_address}, hotkey {wallet.hotkeypub.ss58_address}"
        )
    if args.command == "register":
        uid = asyncio.run(admin.register(
            args.netuid, args.wallet_name, args.wallet_hotkey,
            state=args.state, wallet_path=args.wallet_path,
        ))
        name = f"{args.wallet_name}/{args.wallet_hotkey}"
        return f"registered {name} on netuid {args.netuid} as uid {uid}"
    if args.command == "stake":
        asyncio.run(admin.stake(
            args.netuid, args.wallet_name, args.wallet_hotkey, args.amount,
            state=args.state, wallet_path=args.wallet_path,
        ))
        return f"staked {args.amount:g} TAO to {args.wallet_name}/{args.wallet_hotkey}"
    if args.command == "permit":
        wallet = load_wallet(args.wallet_name, args.wallet_hotkey, args.wallet_path)
        hotkey = wallet.hotkeypub.ss58_address
        if args.clear:
            uid = admin.clear_permit(args.netuid, hotkey, state=args.state)
            return f"cleared the permit override for uid {uid}: the next epoch's stake rank decides"
        uid = admin.permit(args.netuid, hotkey, granted=not args.revoke, state=args.state)
        return f"{'revoked' if args.revoke else 'granted'} validator permit for uid {uid} (an override until --clear)"
    if args.command == "set-stake-threshold":
        previous = admin.set_stake_threshold(args.amount, state=args.state)
        return f"stake threshold: {previous:g} -> {args.amount:g} TAO"
    if args.command == "set-hyperparameter":
        previous = admin.set_hyperparameter(args.netuid, args.name, args.value, state=args.state)
        return f"{args.name} on netuid {args.netuid}: {previous} -> {args.value}"
    if args.command == "deregister":
        wallet = load_wallet(args.wallet_name, args.wallet_hotkey, args.wallet_path)
        replacement = load_wallet(args.replacement_name, args.replacement_hotkey, args.wallet_path)
        uid = admin.deregister(
            args.netuid, wallet.hotkeypub.ss58_address, replacement, state=args.state
        )
        return (f"deregistered {args.wallet_name}/{args.wallet_hotkey} from netuid {args.netuid}: "
                f"uid {uid} is now {args.replacement_name}/{args.replacement_hotkey}")
    if args.command == "swap-hotkey":
        wallet = load_wallet(args.wallet_name, args.wallet_hotkey, args.wallet_path)
        new = load_wallet(args.wallet_name, args.new_hotkey, args.wallet_path)
        netuids = admin.swap_hotkey(wallet, new.hotkeypub.ss58_address, state=args.state)
        where = ", ".join(map(str, netuids)) or "no subnet"
        return f"swapped {args.wallet_name}/{args.wallet_hotkey} -> {args.new_hotkey} on netuid {where}"
    if args.command == "reveals":
        return admin.format_reveals(admin.reveals(args.netuid, state=args.state))
    if args.command == "metagraph":
        return admin.format_metagraph(asyncio.run(admin.metagraph(args.netuid, state=args.state)))
    raise AssertionError(args.command)
