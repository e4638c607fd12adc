"""``python -m neurons.pins publish|show``: the circuits pinned on chain by the subnet owner.

``publish`` (the subnet owner, signed by the owner's hotkey) commits this checkout's
circuits (or those ``--circuits`` names) as the pin: their ids and vk sha256s, the layout of
``protocol._pins``, through the Commitments pallet. ``show`` prints the pin the chain holds
and compares it with this checkout's circuits. Miners and validators follow the pin
(``neurons.shared.pins``): on public networks a circuit outside it is neither served nor
challenged.

Exit status: 0 done (``show``: the pin matches this checkout's circuits), 1 refused or
differs (``show``: no pin, or one that differs), 2 could not run (no chain, no wallet,
model folders that do not load, bad arguments).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

if __name__ == "__main__":
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

from execution_layer import Circuit, CircuitRegistry, ExecutionError  # noqa: E402
from neurons.chain import ChainAccess, ChainFailure, load_wallet  # noqa: E402
from neurons.shared.config import add_chain_args, add_wallet_args  # noqa: E402
from neurons.shared.pins import PinRead, compare, pin_set_of, publish_pin, read_pin  # noqa: E402
from neurons.shared.settings import ChainSettings  # noqa: E402
from neurons.shared.startup import open_chain, select_circuits  # noqa: E402

__all__ = ["main", "build_parser", "EXIT_OK", "EXIT_DIFFERS", "EXIT_CANNOT_RUN"]

EXIT_OK = 0
EXIT_DIFFERS = 1
EXIT_CANNOT_RUN = 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m neurons.pins",
        description="The circuits the subnet runs, pinned on chain by the subnet owner: each "
        "circuit's id and vk sha256 in the owner hotkey's commitment. On finney and test, miners "
        "serve and validators challenge only pinned circuits; on the devnet or a local node an "
        "unpinned circuit is logged and still runs.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, text in (
        ("publish", "commit this checkout's circuits as the pin (the subnet owner's hotkey signs)"),
        ("show", "print the pin on chain and compare it with this checkout's circuits"),
    ):
        p = commands.add_parser(name, help=text, description=text[0].upper() + text[1:] + ".")
        add_chain_args(p)
        if name == "publish":
            add_wallet_args(p)
        p.add_argument(
            "--circuits", nargs="*", default=None,
            help="names or ids of the circuits to pin (publish) or compare (show); default: every "
            "circuit of this checkout's models/",
        )
        p.add_argument("--srs.dir", dest="srs_dir", type=Path, default=None,
                       help="folder of the SRS files the circuits were built against, kzg<logrows>.srs "
                       "(default: models/srs)")
        p.add_argument(
            "--srs.allow_self_generated", dest="srs_allow_self_generated", action="store_true",
            help="allow circuits built on a self-generated SRS off this machine (a private test "
            "subnet only), as the daemons' flag of the same name",
        )
    return parser


def main(argv: Sequence[str] | None = None, *, out: TextIO | None = None, chain: ChainAccess | None = None) -> int:
    """Run the command line (``chain`` replaces the connection: tests); returns the exit status."""
    out = out if out is not None else sys.stdout
    args = build_parser().parse_args(argv)
    settings = ChainSettings.from_args(args)
    try:
        registry = CircuitRegistry.load(srs_dir=args.srs_dir)
        circuits = select_circuits(registry, args.circuits, chain=settings)
    except ExecutionError as error:
        print(f"cannot run: {error}", file=out)
        return EXIT_CANNOT_RUN
    try:
        return asyncio.run(_run(args, settings, circuits, out, chain))
    except ChainFailure as error:
        print(f"cannot run: {error}", file=out)
        return EXIT_CANNOT_RUN


async def _run(
    args: argparse.Namespace, settings: ChainSettings, circuits: list[Circuit], out: TextIO,
    injected: ChainAccess | None,
) -> int:
    wallet = load_wallet(args.wallet_name, args.wallet_hotkey, args.wallet_path) if args.command == "publish" else None
    chain = injected if injected is not None else await open_chain(settings)
    try:
        if wallet is not None:
            pins = pin_set_of(circuits)
            print(f"publishing {len(pins.circuits)} circuit(s) as the pin of netuid {settings.netuid} "
                  f"on {settings.network} (digest {pins.digest}):", file=out)
            for c in sorted(circuits, key=lambda c: c.id):
                print(f"  {c.id}  vk {c.vk_sha256}  {c.name}", file=out)
            result = await publish_pin(chain, wallet, settings.netuid, circuits)
            if not result.ok:
                print(f"refused: {result.error}", file=out)
                return EXIT_DIFFERS
            print(f"published at block {result.block}", file=out)
        pin = await read_pin(chain, settings.netuid)
        return _show(pin, circuits, settings, out)
    finally:
        if injected is None:
            await chain.close()


def _show(pin: PinRead, circuits: Sequence[Circuit], settings: ChainSettings, out: TextIO) -> int:
    where = f"netuid {settings.netuid} on {settings.network}"
    if pin.owner_hotkey is None:
        print(f"no pin: {where} has no subnet owner", file=out)
        return EXIT_DIFFERS
    if pin.pins is None:
        why = f"its commitment (block {pin.block}) is no pin: {pin.problem}" if pin.problem else "it has published none"
        print(f"no pin: the subnet owner of {where} ({pin.owner_hotkey}): {why}", file=out)
        return EXIT_DIFFERS
    print(f"pin of {where}: published by the owner's hotkey {pin.owner_hotkey} at block {pin.block}, "
          f"digest {pin.pins.digest}, {len(pin.pins.circuits)} circuit(s)", file=out)
    result = compare(circuits, pin.pins)
    for c in result.pinned:
        print(f"  pinned          {c.id}  {c.name}", file=out)
    for c in result.unpinned:
        print(f"  NOT PINNED      {c.id}  {c.name}", file=out)
    for c, entry in result.mismatched:
        print(f"  VK DIFFERS      {c.id}  {c.name}: pinned vk {entry.vk_sha256}, ours {c.vk_sha256}", file=out)
    for entry in result.absent:
        print(f"  not loaded here {entry.circuit_id}  vk {entry.vk_sha256}", file=out)
    if result.matches:
        print("the pin matches this checkout's circuits", file=out)
        return EXIT_OK
    print("the pin differs from this checkout's circuits", file=out)
    return EXIT_DIFFERS


if __name__ == "__main__":
    sys.exit(main())
