"""Proving and verifying off the event loop: an object living in worker processes.

:class:`WorkerPool` keeps ``workers`` spawned processes, each with a pipe of its
own; each process builds its object once, with the picklable ``factory``.
:meth:`WorkerPool.run` sends a picklable callable, a method of the object's
class or a module-level function, with its arguments to an idle worker; the
worker calls it with its object first and sends the result back, typed as the
callable's. :class:`ProverPool` is the miner's (``prove``), and
``neurons.validating.verifier_pool.VerifierPool`` the validator's (``verify``).

One call per worker at a time; a call that finds every worker busy waits for
one (first come, first served); of the idle workers, one known to be ready is taken first. Processes start on first use or at
:meth:`WorkerPool.warm_up`.

Errors: whatever the callable raises comes back as raised (an exception that
cannot cross the process boundary becomes an ``ExecutionError`` with its
text). A worker that dies (segfault, OOM kill, ``os._exit``, a SIGKILL from
outside) fails its call with :class:`WorkerCrashed` naming how it died; that
worker alone is replaced and the others keep their work.

Abandoning work: a :meth:`WorkerPool.run` cancelled while its worker is
computing (a deadline, a caller that hung up) kills that worker at once
(SIGKILL: a proof cannot be interrupted any other way) and starts a
replacement in the background; the cancellation propagates to the caller. Until
the replacement has built its object (a second or more with real EZKL, which
loads keys), the next call given to that worker waits for it, inside its own
``run``; with more than one worker the idle ones serve meanwhile.

Workers ignore SIGINT, so a stop signal sent to the whole process group
(Ctrl-C, pm2) is handled by the parent alone; a worker whose parent dies sees
its pipe close and exits.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import multiprocessing
import os
import pickle
import signal
import threading
import traceback
from collections.abc import Callable, Iterator, Sequence
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any, Concatenate, Generic, ParamSpec, Protocol, Self, TypeVar

from execution_layer.types import ExecutionError, ProveResult

__all__ = ["WorkerCrashed", "PoolClosed", "WorkerPool", "ProverPool"]

log = logging.getLogger(__name__)

W = TypeVar("W")
R = TypeVar("R")
P = ParamSpec("P")

# How long close() lets a worker finish the call in hand before killing it.
_CLOSE_GRACE_S = 30.0
# How long a dead worker is waited for to learn its exit code (it is already dead).
_REAP_S = 2.0


class WorkerCrashed(ExecutionError):
    """A worker process died during the call (or while starting); it is being replaced."""


class PoolClosed(ExecutionError):
    """The pool was closed; no more calls are taken."""


# --- the worker process -------------------------------------------------------------------


def _sendable(exc: BaseException) -> BaseException:
    """``exc`` if it survives pickling, else an ``ExecutionError`` with its text."""
    try:
        pickle.loads(pickle.dumps(exc))
    except Exception:
        return ExecutionError(f"{type(exc).__name__}: {exc}")
    return exc


def _worker_main(conn: Connection, factory: Callable[[], object]) -> None:
    """The loop of one worker process: build the object, then answer calls until the pipe closes.

    Messages in: ``(fn, args, kwargs)``, or ``None`` to stop. Out: ``("ready", pid)`` or
    ``("failed", text)`` once, then ``("ok", result)`` or ``("error", exception)`` per call.
    """
    # Ctrl-C in a terminal and pm2's stop signal the whole process tree; the parent
    # handles SIGINT (finishes the call in hand, then closes the pool), so workers ignore it
    # (from their first instruction, see _sigint_ignored_by_children; this covers the rest).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        obj = factory()
    except BaseException as exc:
        traceback.print_exc()  # the whole traceback goes to the worker's stderr (the miner's log)
        conn.send(("failed", f"{type(exc).__name__}: {exc}"))
        return
    conn.send(("ready", os.getpid()))
    while True:
        try:
            message = conn.recv()
        except EOFError:  # the parent closed the pipe or died
            return
        except Exception as exc:  # the call could not be unpickled here
            conn.send(("error", ExecutionError(f"cannot receive the call: {type(exc).__name__}: {exc}")))
            continue
        if message is None:
            return
        fn, args, kwargs = message
        try:
            reply: tuple[str, object] = ("ok", fn(obj, *args, **kwargs))
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as exc:  # pyo3 panics are BaseExceptions; they are the call's error
            reply = ("error", _sendable(exc))
        try:
            conn.send(reply)
        except Exception as exc:  # the result does not pickle
            conn.send(("error", ExecutionError(f"cannot send the result: {type(exc).__name__}: {exc}")))


# --- the parent's side of one worker ------------------------------------------------------


def _death(process: BaseProcess) -> str:
    """How a dead ``process`` ended, for error messages: 'exit code 3', 'killed by SIGKILL'."""
    code = process.exitcode
    if code is None:
        return "its pipe closed"
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


@contextlib.contextmanager
def _sigint_ignored_by_children() -> Iterator[None]:
    """Processes started inside ignore SIGINT from their start, not only once
    ``_worker_main`` runs: a spawned child first imports the parent's main module, and a
    stop signal to the process group in that window (a worker being replaced as pm2 stops
    the miner) would kill it with a KeyboardInterrupt traceback in the log.

    An ignored disposition survives exec (a blocked mask does not: ``fork_exec`` resets
    it), so this process ignores SIGINT for the few milliseconds of ``Process.start``.
    This thread blocks it meanwhile (Linux keeps a blocked signal pending whatever its
    disposition: it is delivered once the handler is back), but a process-directed SIGINT
    can land on another thread, which would drop it: a stop sent in exactly that window is
    lost, and pm2 kills after its ``kill_timeout``. Only the main thread may change
    handlers; from another thread, children start with the default disposition.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    handler = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, handler)
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)


class _Worker:
    """One worker process and the parent's end of its pipe; used by one call at a time."""

    def __init__(self, context: Any, factory: Callable[[], object], index: int, label: str) -> None:
        self._context = context
        self._factory = factory
        self.name = f"{label}-{index}"
        self.process: BaseProcess | None = None
        self.conn: Connection | None = None
        self.ready = False

    def start(self) -> None:
        """Spawn the process (returns at once; the object is built in the background)."""
        parent, child = self._context.Pipe(duplex=True)
        process = self._context.Process(
            target=_worker_main, args=(child, self._factory), name=self.name, daemon=True
        )
        with _sigint_ignored_by_children():
            process.start()
        child.close()  # only the worker holds its end, so its death closes the pipe for us
        self.process, self.conn, self.ready = process, parent, False

    def kill(self) -> None:
        """SIGKILL the process (if any) and forget it; a background thread reaps it."""
        process, conn = self.process, self.conn
        self.process, self.conn, self.ready = None, None, False
        if conn is not None:
            conn.close()
        if process is not None and process.is_alive():
            process.kill()
        if process is not None:
            asyncio.get_running_loop().run_in_executor(None, process.join)

    async def receive(self) -> tuple[str, Any]:
        """The next message from the process, without blocking the event loop.

        Raises ``EOFError`` (or ``OSError``) when the process has died.
        """
        conn = self.conn
        assert conn is not None
        loop = asyncio.get_running_loop()
        readable: asyncio.Future[None] = loop.create_future()

        def wake() -> None:
            if not readable.done():
                readable.set_result(None)

        fd = conn.fileno()
        loop.add_reader(fd, wake)
        try:
            await readable
        finally:
            loop.remove_reader(fd)
        # The worker writes a whole message at once: once readable, the rest follows at pipe speed.
        message: tuple[str, Any] = conn.recv()
        return message

    async def exit_description(self) -> str:
        """Wait briefly for the dead process to be reaped and say how it ended."""
        process = self.process
        if process is None:
            return "its pipe closed"
        await asyncio.get_running_loop().run_in_executor(None, process.join, _REAP_S)
        return _death(process)


# --- the pool -----------------------------------------------------------------------------


class WorkerPool(Generic[W]):
    """Worker processes, each holding one ``W`` built by ``factory``.

    ``factory`` must be picklable (a module-level function or class, a
    ``functools.partial`` of one). ``label`` names the workers in errors and logs.
    The pool may be used from one event loop at a time; no process starts in
    ``__init__``.
    """

    def __init__(self, factory: Callable[[], W], workers: int = 1, *, label: str = "worker") -> None:
        if workers < 1:
            raise ValueError("workers must be >= 1")
        self._factory = factory
        self.workers = workers
        self.label = label
        context = multiprocessing.get_context("spawn")
        self._all = [_Worker(context, factory, i, label) for i in range(workers)]
        self._idle: collections.deque[_Worker] = collections.deque(self._all)
        self._waiters: collections.deque[asyncio.Future[_Worker]] = collections.deque()
        self._closed = False

    async def run(self, fn: Callable[Concatenate[W, P], R], /, *args: P.args, **kwargs: P.kwargs) -> R:
        """``await fn(worker_object, *args, **kwargs)`` in a worker.

        ``fn`` is sent by reference, so it must be importable by name: a method of
        the object's class (``FakeProver.whoami``) or a module-level function, not a
        lambda or a closure. Arguments and result must pickle. Cancelling the call
        while the worker computes kills that worker and starts a replacement (see
        the module docstring); cancelling it while it waits costs nothing.
        """
        name = getattr(fn, "__name__", repr(fn))
        worker = await self._acquire()
        try:
            await self._ensure_ready(worker, during=name)
            assert worker.conn is not None
            try:
                # Pickling happens before anything is written: arguments that do not pickle
                # raise here and leave the pipe clean.
                worker.conn.send((fn, args, kwargs))
                kind, value = await worker.receive()
            except asyncio.CancelledError:
                # INFO: the caller decided (its deadline, a hang-up) and logs why.
                log.info("abandoning %s in %s: killing the worker and starting another", name, worker.name)
                self._replace(worker)
                raise
            except (EOFError, OSError):
                raise await self._crashed(worker, f"during {name}") from None
        finally:
            self._release(worker)
        if kind == "error":
            raise value
        result: R = value
        return result

    async def warm_up(self) -> None:
        """Start every worker now and build the object in it, so a failing factory
        shows at startup (as :class:`WorkerCrashed`) rather than on the first request."""
        taken = [await self._acquire() for _ in self._all]
        try:
            await asyncio.gather(*(self._ensure_ready(w, during="start-up") for w in taken))
        finally:
            for worker in taken:
                self._release(worker)

    async def _ensure_ready(self, worker: _Worker, *, during: str) -> None:
        """Start ``worker`` if it has no process and wait for its object to be built.

        Cancelled while waiting, the worker keeps starting (nothing was sent to it).
        """
        if worker.process is None:
            worker.start()
        if worker.ready:
            return
        try:
            kind, value = await worker.receive()
        except (EOFError, OSError):
            raise await self._crashed(worker, f"while starting (before {during})") from None
        if kind != "ready":
            await worker.exit_description()
            worker.kill()  # started again by the next call that takes it
            raise WorkerCrashed(
                f"a {self.label} worker died while starting: the {self.label} factory failed: {value}"
            )
        worker.ready = True

    async def _crashed(self, worker: _Worker, when: str) -> WorkerCrashed:
        """The error for a worker found dead; the worker is replaced."""
        how = await worker.exit_description()
        log.warning("%s died %s (%s); starting another", worker.name, when, how)
        self._replace(worker)
        return WorkerCrashed(f"a {self.label} worker died {when} ({how}); it is being replaced")

    def _replace(self, worker: _Worker) -> None:
        """Kill ``worker``'s process and, unless the pool is closed, start a new one now."""
        worker.kill()
        if not self._closed:
            worker.start()

    async def _acquire(self) -> _Worker:
        if self._closed:
            raise PoolClosed(f"the {self.label} pool is closed")
        if self._idle and not self._waiters:
            # A worker known to be ready first: a replacement still loading its object (after
            # an abandoned call) would make this call wait while a ready worker sits idle
            # (with the miner's lanes, a light circuit's proof behind a heavy one's restart).
            for worker in self._idle:
                if worker.ready:
                    self._idle.remove(worker)
                    return worker
            return self._idle.popleft()
        waiter: asyncio.Future[_Worker] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            return await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self._release(waiter.result())  # handed over as we were cancelled: pass it on
            else:
                self._waiters.remove(waiter)
            raise

    def _release(self, worker: _Worker) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(worker)
                return
        self._idle.append(worker)

    def close(self) -> None:
        """Stop the workers: each finishes the call in hand (up to a grace of
        ``_CLOSE_GRACE_S``, then it is killed) and exits. Idempotent; calls
        waiting for a worker fail with :class:`PoolClosed`."""
        self._closed = True
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_exception(PoolClosed(f"the {self.label} pool is closed"))
        for worker in self._all:
            process, conn = worker.process, worker.conn
            if process is None or conn is None:
                continue
            try:
                conn.send(None)
            except OSError:
                pass  # already dead
            process.join(_CLOSE_GRACE_S)
            if process.is_alive():
                log.warning("%s did not stop within %.0fs; killing it", worker.name, _CLOSE_GRACE_S)
                process.kill()
                process.join()
            conn.close()

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
        """The prover's ``prove`` in a worker; raises what it raises, or :class:`WorkerCrashed`.

        Cancelled mid-proof, the proof is abandoned: its worker is killed and replaced."""
        return await self.run(_prove, circuit_id, tuple(inputs))
