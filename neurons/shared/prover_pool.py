"""Proving and verifying off the event loop: an object living in worker processes.

:class:`WorkerPool` starts ``workers`` spawned processes; each builds its
object once, with the picklable ``factory``, and keeps it in this module's
per-process slot (the one module-level state: it exists only inside worker
processes). :meth:`WorkerPool.run` sends a picklable callable, a method of the
object's class or a module-level function, with its arguments; the worker
calls it with its object first and sends the result back, typed as the
callable's. :class:`ProverPool` is the miner's (``prove``), and
``neurons.validating.verifier_pool.VerifierPool`` the validator's (``verify``).

Errors: whatever the callable raises comes back as raised (an exception that
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
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, Concatenate, Generic, ParamSpec, Protocol, Self, TypeVar

from execution_layer.types import ExecutionError, ProveResult

__all__ = ["WorkerCrashed", "PoolClosed", "WorkerPool", "ProverPool"]

log = logging.getLogger(__name__)

W = TypeVar("W")
R = TypeVar("R")
P = ParamSpec("P")

# The worker's object, built by the initializer; set only inside worker processes.
_worker_object: object = None


class WorkerCrashed(ExecutionError):
    """A worker process died during the call; the pool has been rebuilt."""


class PoolClosed(ExecutionError):
    """The pool was closed; no more calls are taken."""


def _init_worker(factory: Callable[[], object]) -> None:
    global _worker_object
    # Ctrl-C in a terminal and pm2's stop signal the whole process tree; the parent
    # handles SIGINT (finishes the call in hand, then closes the pool), so workers ignore it.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _worker_object = factory()


def _ping() -> int:
    return os.getpid()


def _invoke(fn: Callable[..., R], args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> R:
    try:
        return fn(_worker_object, *args, **kwargs)
    except Exception as exc:
        try:
            pickle.loads(pickle.dumps(exc))
        except Exception:
            raise ExecutionError(f"{type(exc).__name__}: {exc}") from None
        raise


class WorkerPool(Generic[W]):
    """Worker processes, each holding one ``W`` built by ``factory``.

    ``factory`` must be picklable (a module-level function or class, a
    ``functools.partial`` of one). ``label`` names the workers in errors and logs.
    """

    def __init__(self, factory: Callable[[], W], workers: int = 1, *, label: str = "worker") -> None:
        if workers < 1:
            raise ValueError("workers must be >= 1")
        self._factory = factory
        self.workers = workers
        self.label = label
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

    async def run(self, fn: Callable[Concatenate[W, P], R], /, *args: P.args, **kwargs: P.kwargs) -> R:
        """``await fn(worker_object, *args, **kwargs)`` in a worker.

        ``fn`` is sent by reference, so it must be importable by name: a method of
        the object's class (``FakeProver.whoami``) or a module-level function, not a
        lambda or a closure. Arguments and result must pickle.
        """
        executor = self._executor
        if self._closed or executor is None:
            raise PoolClosed(f"the {self.label} pool is closed")
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(executor, _invoke, fn, args, kwargs)
        except BrokenProcessPool as exc:
            self._rebuild(executor)
            name = getattr(fn, "__name__", repr(fn))
            raise WorkerCrashed(f"a {self.label} worker died during {name}: {exc}") from None

    async def warm_up(self) -> None:
        """Start the workers now and build the object in them, so a failing factory
        shows at startup (as :class:`WorkerCrashed`) rather than on the first request."""
        executor = self._executor
        if self._closed or executor is None:
            raise PoolClosed(f"the {self.label} pool is closed")
        loop = asyncio.get_running_loop()
        try:
            await asyncio.gather(
                *(loop.run_in_executor(executor, _ping) for _ in range(self.workers))
            )
        except BrokenProcessPool:
            self._rebuild(executor)
            raise WorkerCrashed(
                f"a {self.label} worker died while starting: the {self.label} factory failed "
                "(its traceback is in the worker's stderr)"
            ) from None

    def _rebuild(self, broken: ProcessPoolExecutor) -> None:
        """Replace ``broken`` once, however many calls saw it break."""
        if self._closed or self._executor is not broken:
            return
        log.warning("a %s worker died; restarting %d worker(s)", self.label, self.workers)
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

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _Proves(Protocol):
    """What a :class:`ProverPool` calls in its workers (``execution_layer.Prover`` has it)."""

    def prove(self, circuit_id: str, inputs: tuple[float, ...]) -> ProveResult: ...


_Prover = TypeVar("_Prover", bound=_Proves)


def _prove(prover: _Proves, circuit_id: str, inputs: tuple[float, ...]) -> ProveResult:
    return prover.prove(circuit_id, inputs)


class ProverPool(WorkerPool[_Prover]):
    """A prover in worker processes; ``factory`` builds it (e.g. ``execution_layer.make_prover``)."""

    def __init__(self, factory: Callable[[], _Prover], workers: int = 1) -> None:
        super().__init__(factory, workers, label="prover")

    async def prove(self, circuit_id: str, inputs: Sequence[float]) -> ProveResult:
        """The prover's ``prove`` in a worker; raises what it raises, or :class:`WorkerCrashed`."""
        return await self.run(_prove, circuit_id, tuple(inputs))
