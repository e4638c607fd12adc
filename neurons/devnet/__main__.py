"""Entry point: ``python -m neurons.devnet``."""

import sys

from neurons.devnet.cli import main

if __name__ == "__main__":
    sys.exit(main())
