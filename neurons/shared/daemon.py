"""What both daemons share: signals, errors printed as one line, stoppable waits.

``run_daemon`` runs a daemon coroutine with SIGINT/SIGTERM wired to a stop
event (the first asks for a clean stop; a second one interrupts), and turns
the errors an operator can fix (missing wallet, unregistered hotkey,
unreachable chain, circuit files that do not match, a taken port, a path
that cannot be written, a state file that cannot be written or moved aside,
wandb on without a key) into one log line that says what to do, and exit
code 1, instead of a traceback. ``until_stopped`` lets a daemon abandon a
wait that may stall (a chain read) as soon as a stop is asked for.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import signal
import sys
from pathlib import Path
from typing import Awaitable, Callable, TypeVar

from execution_layer import (
    CircuitMismatch,
    CircuitNotFound,
    CircuitUnavailable,
    ExecutionError,
    NoCircuitLoads,
    default_models_dir,
)
from neurons.chain import ChainFailure
from utils.wandb_log import RunLoggerError

__all__ = ["run_daemon", "repo_root", "until_stopped"]

T = TypeVar("T")


def repo_root() -> Path:
    """The checkout the daemons run from (pm2 starts ``neurons/*.py`` there)."""
    return Path(__file__).resolve().parents[2]


async def until_stopped(work: Awaitable[T], stop: asyncio.Event) -> T | None:
    """Await ``work``, unless ``stop`` is set first: then cancel it and return None.

    For waits that may stall (a chain read on a dead connection), so a stop
    request is honoured at once. ``work``'s own exception propagates.
    """
    task = asyncio.ensure_future(work)
    stopping = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({task, stopping}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopping.cancel()
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    return None if task.cancelled() else task.result()


def run_daemon(
    main: Callable[[asyncio.Event], Awaitable[object]],
    component: str,
    *,
    operator_errors: tuple[type[Exception], ...] = (),
) -> int:
    """Run ``main(stop)`` to the end; the process exit code: 0, 1 (an operator error, logged
    as one line on the ``component`` logger) or 130 (interrupted). Anything else propagates.

    Operator errors are the chain's, the execution layer's, wandb's, file and socket
    errors, and the daemon's own ``operator_errors`` (whose ``str`` is one line that
    says what to do, e.g. the validator's ``StateError``)."""
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

    one_line: tuple[type[Exception], ...] = (ChainFailure, RunLoggerError, *operator_errors)
    try:
        asyncio.run(runner())
    except one_line as error:
        log.error("%s", error)
        return 1
    except ExecutionError as error:
        log.error("%s%s", error, _execution_hint(error))
        return 1
    except OSError as error:
        log.error("%s", _os_line(error))
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


def _os_line(error: OSError) -> str:
    """One line for a file or socket error; a path error names the flags that set paths."""
    if error.errno == errno.EADDRINUSE:
        return (
            f"{error.strerror or error}: a port this daemon listens on (--metrics.port, the "
            "miner's --axon.port) is taken; stop what holds it or choose another port"
        )
    if error.filename is None:
        return str(error)
    return (
        f"cannot use {error.filename}: {error.strerror}; check the path exists and is writable "
        "(set by --keys.cache, --state.dir, --wallet.path, --subtensor.devnet_state)"
    )


def _execution_hint(error: ExecutionError) -> str:
    """What to do about an execution-layer error whose own message does not say it."""
    if isinstance(error, CircuitMismatch) or (
        isinstance(error, NoCircuitLoads) and any(issubclass(b.error, CircuitMismatch) for b in error.broken)
    ):
        return (
            "; restore the shipped circuit files (git checkout models/, or git pull for a new "
            "release), or pass the folder of the SRS files they were built with in --srs.dir"
        )
    if isinstance(error, CircuitUnavailable):
        return ""  # the message names the broken folder and why (execution_layer.registry)
    if isinstance(error, CircuitNotFound):
        models = default_models_dir()
        names = sorted(p.parent.name for p in models.glob("*/manifest.json"))
        if names and all(name in str(error) for name in names):
            return ""  # the message lists them already (neurons.shared.startup.select_circuits)
        return f"; the shipped circuits are {', '.join(names) or 'none'} (see models/)"
    return ""


if __name__ == "__main__":  # pragma: no cover
    sys.exit("neurons/shared/daemon.py is a library; run neurons/miner.py or neurons/validator.py")
