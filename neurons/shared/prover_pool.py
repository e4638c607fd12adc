"""Proving off the event loop: a prover living in worker processes.

:class:`ProverPool` starts ``workers`` spawned processes; each builds its
prover once, with the picklable ``factory``, and keeps it in this module's
per-process slot (the one module-level state: it exists only inside worker
processes). Calls are forwarded by method name, so the pool serves any
object the factory builds (``prove``, ``verify``, ...).

Errors: whatever the method raises comes back as raised (an exception that
cannot cross the process boundary becomes an ``ExecutionError`` with its
text). A worker that dies (segfault, OOM kill, ``os._exit``) fails the calls
in flight with :class:`WorkerCrashed`; the pool is rebuilt for the next call.
Workers ignore SIGINT, so a stop signal sent to the whole process group
(Ctrl-C, pm2) is handled by the parent alone.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import pickle
import signal
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from execution_layer.types import ExecutionError, ProveResult

__all__ = ["WorkerCrashed", "PoolClosed", "ProverPool"]

log = logging.getLogger(__name__)

# The worker's object, built by the initializer; set only inside worker processes.
_worker_object: Any = None


class WorkerCrashed(ExecutionError):
    """A worker process died during the call; the pool has been rebuilt."""


class PoolClosed(ExecutionError):
    """The pool was closed; no more calls are taken."""


def _init_worker(factory: Callable[[], Any]) -> None:
    global _worker_object
    # Ctrl-C in a terminal and pm2's stop signal the whole process tree; the parent
    # handles SIGINT (finishes the call in hand, then closes the pool), so workers ignore it.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _worker_object = factory()


def _ping() -> int:
    return os.getpid()


def _invoke(fn_name: str, args: tuple[Any, ...]) -> Any:
    try:
        return getattr(_worker_object, fn_name)(*args)
    except Exception as exc:
        try:
            pickle.loads(pickle.dumps(exc))
        except Exception:
            raise ExecutionError(f"{type(exc).__name__}: {exc}") from None
        raise


class ProverPool:
    """``factory`` must be picklable (a module-level function or class, a ``functools.partial``)."""

    def __init__(self, factory: Callable[[], Any], workers: int = 1) -> None:
        if workers < 1:
            raise ValueError("workers must be >= 1")
        self._factory = factory
        self.workers = workers
        self._context = multiprocessing.get_context("spawn")
        self._executor: ProcessPoolExecutor | None = self._start()
        self._closed = False

    def _start(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            max_workers=self.workers,
            mp_context=self._context,
            initializer=_init_worker,
            initargs=(self._factory,),
        )

    async def call(self, fn_name: str, *args: Any) -> Any:
        """``await`` the worker object's ``fn_name(*args)``; arguments and result must pickle."""
        executor = self._executor
        if self._closed or executor is None:
            raise PoolClosed("the prover pool is closed")
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(executor, _invoke, fn_name, args)
        except BrokenProcessPool as exc:
            self._rebuild(executor)
            raise WorkerCrashed(f"a prover worker died during {fn_name}: {exc}") from None

    async def warm_up(self) -> None:
        """Start the workers now and build the prover in them, so a failing factory
        shows at startup (as :class:`WorkerCrashed`) rather than on the first request."""
        executor = self._executor
        if self._closed or executor is None:
            raise PoolClosed("the prover pool is closed")
        loop = asyncio.get_running_loop()
        try:
            await asyncio.gather(
                *(loop.run_in_executor(executor, _ping) for _ in range(self.workers))
            )
        except BrokenProcessPool:
            self._rebuild(executor)
            raise WorkerCrashed(
                "a prover worker died while starting: the prover factory failed "
                "(its traceback is in the worker's stderr)"
            ) from None

    async def prove(self, circuit_id: str, inputs: Sequence[float]) -> ProveResult:
        """``Prover.prove`` in a worker; raises what it raises, or :class:`WorkerCrashed`."""
        result = await self.call("prove", circuit_id, tuple(inputs))
        if not isinstance(result, ProveResult):
            raise ExecutionError(f"prover returned {type(result).__name__}, not ProveResult")
        return result

    def _rebuild(self, broken: ProcessPoolExecutor) -> None:
        """Replace ``broken`` once, however many calls saw it break."""
        if self._closed or self._executor is not broken:
            return
        log.warning("a prover worker died; restarting %d worker(s)", self.workers)
        broken.shutdown(wait=False, cancel_futures=True)
        self._executor = self._start()

    def close(self) -> None:
        """Stop the workers (waits for calls in flight). Idempotent."""
        self._closed = True
        executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True, cancel_futures=True)

    async def aclose(self) -> None:
        """:meth:`close` without blocking the event loop."""
        await asyncio.to_thread(self.close)

    def __enter__(self) -> ProverPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
