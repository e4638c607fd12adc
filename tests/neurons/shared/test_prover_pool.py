"""neurons.shared.prover_pool: a real spawned process pool around a picklable fake prover."""

from __future__ import annotations

import asyncio
import functools
import os
import signal
from pathlib import Path

import pytest

from execution_layer.types import ExecutionError, ProvingFailed
from neurons.shared.prover_pool import PoolClosed, ProverPool, WorkerCrashed
from tests.support.provers import (
    CIRCUIT_A,
    CIRCUIT_B,
    FakeProver,
    broken_factory,
    fake_result,
    hold,
    make_fake_prover,
    worker_identity,
)

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def pool():
    with ProverPool(make_fake_prover, workers=1) as pool:
        yield pool


async def test_prove_runs_in_a_worker_and_returns_the_result(pool):
    result = await pool.prove(CIRCUIT_A, [1.0, 2.0])
    assert result == fake_result(CIRCUIT_A, (1.0, 2.0))


async def test_prover_is_built_once_per_worker_process(pool):
    label, pid, first = await pool.run(FakeProver.whoami)
    _, same_pid, second = await pool.run(FakeProver.whoami)
    assert label == "made" and pid == same_pid != os.getpid()
    assert second == first + 1


async def test_any_method_of_the_prover_runs_in_the_worker_with_its_arguments(pool):
    proof = fake_result(CIRCUIT_A, (1.0,)).proof
    assert await pool.run(FakeProver.verify, proof) is True
    assert await pool.run(FakeProver.sleep, seconds=0.0) == 0.0


async def test_a_module_level_function_runs_with_the_worker_object_first(pool):
    label, pid = await pool.run(worker_identity)
    assert label == "made" and pid != os.getpid()


async def test_prover_errors_come_back_as_raised(pool):
    with pytest.raises(ProvingFailed, match="cannot prove circuit B"):
        await pool.prove(CIRCUIT_B, [1.0])


async def test_unpicklable_errors_become_execution_errors(pool):
    """CircuitMismatch takes three constructor arguments; it still arrives, as text."""
    with pytest.raises(ExecutionError, match="CircuitMismatch: model.onnx"):
        await pool.run(FakeProver.unpicklable_error)
    assert (await pool.prove(CIRCUIT_A, [1.0])).outputs == (1.0,)


async def test_event_loop_keeps_running_while_a_worker_proves(pool):
    """While a worker is busy, other coroutines still run: the loop is not blocked."""
    call = asyncio.create_task(pool.run(FakeProver.sleep, 0.5))
    await asyncio.sleep(0)  # let the call reach the pool
    other_ran = asyncio.Event()
    asyncio.get_running_loop().call_soon(other_ran.set)
    await other_ran.wait()
    # Had the call blocked the loop, it would have finished before the loop got here.
    assert not call.done()
    await call


async def test_worker_crash_is_an_execution_error_and_the_pool_recovers():
    pool = ProverPool(functools.partial(FakeProver, "crashy"), workers=1)
    try:
        _, pid_before, _ = await pool.run(FakeProver.whoami)
        with pytest.raises(WorkerCrashed, match="a prover worker died during crash"):
            await pool.run(FakeProver.crash)
        label, pid_after, calls = await pool.run(FakeProver.whoami)
        assert label == "crashy" and pid_after != pid_before and calls == 1
    finally:
        await pool.aclose()


async def test_closed_pool_refuses_calls():
    pool = ProverPool(make_fake_prover)
    pool.close()
    pool.close()
    with pytest.raises(PoolClosed):
        await pool.prove(CIRCUIT_A, [1.0])


def test_pool_needs_at_least_one_worker():
    with pytest.raises(ValueError):
        ProverPool(make_fake_prover, workers=0)


async def test_warm_up_builds_workers_and_surfaces_a_failing_factory():
    with ProverPool(make_fake_prover, workers=1) as good:
        await good.warm_up()
    bad = ProverPool(broken_factory, workers=1)
    try:
        with pytest.raises(WorkerCrashed, match="factory failed: ProvingFailed: circuit artifacts missing"):
            await bad.warm_up()
    finally:
        await bad.aclose()


async def pid_in(marker: Path) -> int:
    """The pid a ``hold`` call wrote to ``marker``, once it has started."""
    async with asyncio.timeout(30):
        while not (marker.exists() and marker.read_text()):
            await asyncio.sleep(0.01)
    return int(marker.read_text())


async def gone(pid: int) -> None:
    """Returns once process ``pid`` no longer exists (killed and reaped)."""
    async with asyncio.timeout(10):
        while True:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            await asyncio.sleep(0.02)


async def test_abandoned_call_kills_its_worker_and_a_fresh_one_serves_the_next(tmp_path):
    """Abandoning work (a deadline, a caller that hung up): cancelling a call mid-computation
    stops its process at once; the next call is served by a replacement, not after the
    abandoned one would have finished."""
    pool = ProverPool(make_fake_prover, workers=1)
    try:
        call = asyncio.create_task(pool.run(hold, str(tmp_path / "pid"), 600.0))
        busy = await pid_in(tmp_path / "pid")
        call.cancel()
        with pytest.raises(asyncio.CancelledError):
            await call
        await gone(busy)
        async with asyncio.timeout(30):
            label, fresh = await pool.run(worker_identity)
        assert label == "made" and fresh != busy
    finally:
        await pool.aclose()


async def test_abandoning_one_call_leaves_the_other_workers_call_running(tmp_path):
    """Only the abandoned call's worker is stopped: a call in flight on another worker finishes."""
    pool = ProverPool(make_fake_prover, workers=2)
    try:
        doomed = asyncio.create_task(pool.run(hold, str(tmp_path / "doomed"), 600.0))
        other = asyncio.create_task(pool.run(hold, str(tmp_path / "other"), 1.0))
        doomed_pid = await pid_in(tmp_path / "doomed")
        other_pid = await pid_in(tmp_path / "other")
        doomed.cancel()
        async with asyncio.timeout(30):
            assert await other == other_pid
        await gone(doomed_pid)
    finally:
        await pool.aclose()


async def test_an_idle_ready_worker_serves_before_a_replacement_still_starting(tmp_path):
    """Tried: of two workers, the one whose call was abandoned is replaced (and released
    first); the other finishes its call. Must hold: the next call goes to the ready one,
    not to the replacement still loading its object."""
    pool = ProverPool(make_fake_prover, workers=2)
    try:
        await pool.warm_up()
        doomed = asyncio.create_task(pool.run(hold, str(tmp_path / "doomed"), 600.0))
        other = asyncio.create_task(pool.run(hold, str(tmp_path / "other"), 1.0))
        await pid_in(tmp_path / "doomed")
        other_pid = await pid_in(tmp_path / "other")
        doomed.cancel()
        with pytest.raises(asyncio.CancelledError):
            await doomed
        async with asyncio.timeout(30):
            assert await other == other_pid
            _, served_by = await pool.run(worker_identity)
        assert served_by == other_pid
    finally:
        await pool.aclose()


async def test_worker_sigkilled_mid_call_is_worker_crashed_and_the_next_call_is_served(tmp_path):
    """A worker killed from outside (OOM killer, an operator) fails its call with an error that
    says how it died; a replacement serves the next call."""
    pool = ProverPool(make_fake_prover, workers=1)
    try:
        call = asyncio.create_task(pool.run(hold, str(tmp_path / "pid"), 600.0))
        busy = await pid_in(tmp_path / "pid")
        os.kill(busy, signal.SIGKILL)
        with pytest.raises(WorkerCrashed, match=r"died during hold \(killed by SIGKILL\)"):
            await call
        _, fresh = await pool.run(worker_identity)
        assert fresh != busy
    finally:
        await pool.aclose()
