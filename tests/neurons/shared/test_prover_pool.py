"""neurons.shared.prover_pool: a real spawned process pool around a picklable fake prover."""

from __future__ import annotations

import asyncio
import functools
import os

import pytest

from execution_layer.types import ExecutionError, ProvingFailed
from neurons.shared.prover_pool import PoolClosed, ProverPool, WorkerCrashed
from tests.support.provers import (
    CIRCUIT_A,
    CIRCUIT_B,
    FakeProver,
    broken_factory,
    fake_result,
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
        with pytest.raises(WorkerCrashed, match="factory failed"):
            await bad.warm_up()
    finally:
        await bad.aclose()
