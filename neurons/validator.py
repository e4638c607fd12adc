"""Proof-of-inference validator: ``python neurons/validator.py --netuid 2 --wallet.name … --wallet.hotkey …``.

Parses flags, configures logging and runs the validator loop
(``neurons.validating.service``) until SIGINT/SIGTERM or ``--validator.rounds``.
``--help`` explains every flag.
"""

import sys
from pathlib import Path

if __name__ == "__main__":
    # Run from a checkout (pm2 starts this file): import the project's packages
    # from the repository root rather than from neurons/.
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

from neurons.shared.config import validator_parser  # noqa: E402
from neurons.shared.daemon import run_daemon  # noqa: E402
from utils.log import configure_logging  # noqa: E402

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    args = validator_parser().parse_args(argv)
    configure_logging("validator", args.logging_debug)
    from neurons.validating.service import run_validator, settings_from_args
    from neurons.validating.api_auth import AllowlistError
    from neurons.validating.api_keys import ApiKeyFileError
    from neurons.validating.state import StateError

    settings = settings_from_args(args)
    return run_daemon(
        lambda stop: run_validator(settings, stop=stop), "validator", operator_errors=(StateError, AllowlistError, ApiKeyFileError)
    )


if __name__ == "__main__":
    sys.exit(main())
