"""What both entry scripts share: signals, and errors printed as one line.

``run_daemon`` runs a daemon coroutine with SIGINT/SIGTERM wired to a stop
event (the first asks for a clean stop; a second one interrupts), and turns
the errors an operator can fix (missing wallet, unregistered hotkey,
unreachable chain, circuit files that do not match) into one log line and
exit code 1 instead of a traceback.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from pathlib import Path
from typing import Awaitable, Callable

from execution_layer.types import ExecutionError
from neurons.chain import ChainFailure

__all__ = ["run_daemon", "repo_root"]


def repo_root() -> Path:
    return Path(__file__).resolve().parent.parent


def run_daemon(main: Callable[[asyncio.Event], Awaitable[object]], component: str) -> int:
    log = logging.getLogger(component)

    async def runner() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()

        def on_signal(sig: signal.Signals) -> None:
            if stop.is_set():
                log.warning("second %s: stopping now", sig.name)
                raise SystemExit(130)
            log.info("%s received: stopping cleanly (send it again to stop at once)", sig.name)
            stop.set()

        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, on_signal, sig)
        await main(stop)

    try:
        asyncio.run(runner())
    except (ChainFailure, ExecutionError) as error:
        log.error("%s", error)
        return 1
    except OSError as error:
        log.error("%s", error)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit("neurons/daemon.py is a library; run neurons/miner.py or neurons/validator.py")
