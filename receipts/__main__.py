"""``python -m receipts verify FILE [--models DIR] [--srs-dir DIR] [--network NET --netuid N]``: check a receipt.

Offline by default. With ``--network`` (and ``--netuid``) it also reads the subnet owner's
circuit pin from that chain and rejects a receipt whose circuit is not in it ("not pinned").
Prints ``verified`` or ``rejected`` with every failed check and its reason, and
what the receipt says (circuit, miner, validator, times, the decoded outputs).
Exit status: 0 verified, 1 rejected, 2 could not check (unreadable file, model
folders that do not load — their hashes or ezkl version —, a chain that cannot be
read, or bad arguments).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import TextIO

from execution_layer import CircuitRegistry, ExecutionError, default_models_dir
from neurons.chain import ChainFailure
from receipts._check import ReceiptVerdict, check_receipt
from receipts._pin import read_onchain_pin

__all__ = ["main", "EXIT_VERIFIED", "EXIT_REJECTED", "EXIT_CANNOT_CHECK"]

EXIT_VERIFIED = 0
EXIT_REJECTED = 1
EXIT_CANNOT_CHECK = 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m receipts",
        description="Check a Proof-of-Inference receipt offline: the validator's and the miner's "
        "signatures and the EZKL proof against the request's inputs. Needs no chain and no "
        "validator, only the circuit's hash-pinned model folder.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    check = commands.add_parser(
        "verify", help="check one receipt file",
        description="Exit status: 0 verified, 1 rejected, 2 could not check.",
    )
    check.add_argument("file", type=Path, help="the receipt (JSON, exactly as the validator wrote it)")
    check.add_argument(
        "--models", type=Path, default=None,
        help="folder of model folders (each with manifest.json, settings.json, vk.key); "
        "default: this checkout's models/",
    )
    check.add_argument(
        "--srs-dir", dest="srs_dir", type=Path, default=None,
        help="folder of the SRS files (kzg<logrows>.srs, one per size); default: <models>/srs "
        "(each file's hash is pinned)",
    )
    check.add_argument(
        "--network", default=None,
        help="also check the receipt's circuit against the circuits the subnet owner pinned on this "
        "chain (finney, test, local, a ws(s):// URL, or devnet); needs --netuid. A circuit outside "
        "the pin, or no pin published, rejects the receipt as not pinned. Default: no chain is read",
    )
    check.add_argument("--netuid", type=int, default=None, help="the subnet whose pin to check (with --network)")
    check.add_argument(
        "--devnet-state", dest="devnet_state", type=Path, default=None,
        help="the devnet state file, for --network devnet (default: the devnet's default path)",
    )
    return parser


def main(argv: Sequence[str] | None = None, *, out: TextIO | None = None) -> int:
    """Run the command line; returns the exit status (see the module docstring)."""
    out = out if out is not None else sys.stdout
    parser = _parser()
    args = parser.parse_args(argv)
    if (args.network is None) != (args.netuid is None):
        parser.error("--network and --netuid go together: give both to check the pin, or neither")
    try:
        data = args.file.read_bytes()
    except OSError as error:
        print(f"cannot check: {args.file}: {error.strerror or error}", file=out)
        return EXIT_CANNOT_CHECK
    try:
        circuits = CircuitRegistry.load(args.models or default_models_dir(), args.srs_dir)
    except (ExecutionError, OSError) as error:
        print(f"cannot check: the model folders do not load: {error}", file=out)
        return EXIT_CANNOT_CHECK
    pin = None
    if args.network is not None:
        try:
            pin = asyncio.run(read_onchain_pin(args.network, args.netuid, devnet_state=args.devnet_state))
        except ChainFailure as error:
            print(f"cannot check: the pin of netuid {args.netuid} on {args.network} cannot be read: {error}",
                  file=out)
            return EXIT_CANNOT_CHECK
    verdict = check_receipt(data, circuits, pin=pin)
    print(_report(args.file, verdict), file=out)
    return EXIT_VERIFIED if verdict.verified else EXIT_REJECTED


def _report(path: Path, verdict: ReceiptVerdict) -> str:
    lines = [f"{'verified' if verdict.verified else 'rejected'}: {path}"]
    lines += [f"  FAILED {f.check}: {f.reason}" for f in verdict.failures]
    receipt = verdict.receipt
    if receipt is not None:
        name = f" ({verdict.circuit_name})" if verdict.circuit_name else ""
        lines += [
            f"  circuit    {receipt.circuit_id}{name}",
            f"  request    {receipt.request.request_id}, {len(receipt.request.inputs)} inputs",
            f"  miner      {receipt.miner.hotkey}",
            f"  validator  {receipt.validator.hotkey}",
            f"  requested  {_utc(receipt.requested_at)}, answered in {receipt.answered_at - receipt.requested_at:.3f}s",
        ]
    if verdict.outputs is not None:
        lines.append(f"  outputs    {list(verdict.outputs)}")
    elif receipt is not None:
        lines.append(f"  outputs    {list(receipt.outputs)} (as claimed; the proof did not verify)")
    return "\n".join(lines)


def _utc(t: float) -> str:
    return datetime.fromtimestamp(t, tz=timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


if __name__ == "__main__":
    sys.exit(main())
