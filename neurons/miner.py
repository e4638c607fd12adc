"""Proof-of-inference miner: ``python neurons/miner.py --netuid 2 --wallet.name … --wallet.hotkey …``.

Parses flags, configures logging and runs the miner daemon
(``neurons.mining.service``) until SIGINT/SIGTERM. ``--help`` explains every flag.
"""

import sys
from pathlib import Path

if __name__ == "__main__":
    # Run from a checkout (pm2 starts this file): import the project's packages
    # from the repository root rather than from neurons/.
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

from neurons.shared.config import miner_parser  # noqa: E402
from neurons.shared.daemon import run_daemon  # noqa: E402
from utils.log import configure_logging  # noqa: E402

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    args = miner_parser().parse_args(argv)
    configure_logging("miner", args.logging_debug)
    # Heavy imports (ezkl, onnxruntime, FastAPI) only after --help has had its say.
    from neurons.mining.service import run_miner, settings_from_args

    settings = settings_from_args(args)
    return run_daemon(lambda stop: run_miner(settings, stop=stop), "miner")


if __name__ == "__main__":
    sys.exit(main())
