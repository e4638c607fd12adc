"""neurons.shared.daemon: errors an operator can fix end the daemon with one log line and exit 1."""

from __future__ import annotations

import asyncio
import logging

import pytest

from execution_layer.types import CircuitMismatch, CircuitNotFound
from neurons.chain import NotRegistered
from neurons.shared.daemon import run_daemon, until_stopped
from neurons.validating.state import StateError
from tests.support.models import circuit_folder_names
from utils.wandb_log import RunLoggerError


def failing_with(error: BaseException):
    async def main(stop: asyncio.Event) -> None:
        raise error

    return main


@pytest.mark.parametrize(
    "error",
    [
        NotRegistered("hotkey 5F… is not registered on netuid 2; register it: btcli …"),
        CircuitMismatch("models/wine_mlp/model.compiled", "ab" * 32, "cd" * 32),
        StateError("cannot write validator state in /state: Permission denied"),
        RunLoggerError("wandb logging is on but WANDB_API_KEY is not set"),
        OSError("cannot listen on 0.0.0.0:8091 (Address already in use)"),
    ],
    ids=["chain", "execution", "state", "wandb", "os"],
)
def test_an_operator_error_is_one_log_line_and_exit_code_1(error, caplog):
    """The line is the error's own text, with a hint on what to do appended for some."""
    with caplog.at_level(logging.ERROR, logger="validator"):
        code = run_daemon(failing_with(error), "validator", operator_errors=(StateError,))
    assert code == 1
    (record,) = [r for r in caplog.records if r.name == "validator"]
    line = record.getMessage()
    assert line.startswith(str(error)) and "\n" not in line and record.exc_info is None


def test_a_daemon_error_not_declared_an_operator_error_propagates():
    """The validator's StateError is one line only where the validator declares it: the
    shared runner knows no role's errors."""
    with pytest.raises(StateError):
        run_daemon(failing_with(StateError("cannot write validator state")), "miner")


def test_a_changed_circuit_file_says_how_to_restore_it(caplog):
    error = CircuitMismatch("models/wine_mlp/model.compiled", "ab" * 32, "cd" * 32)
    with caplog.at_level(logging.ERROR, logger="miner"):
        assert run_daemon(failing_with(error), "miner") == 1
    assert "git checkout models/" in caplog.text and "--srs.dir" in caplog.text


FOLDERS = circuit_folder_names()  # what the hint lists: every circuit folder, loading or not


@pytest.mark.parametrize(
    "message, hinted",
    [("no circuit with id 'nope'", True), (f"no circuit named 'x' or with that id (have: {', '.join(FOLDERS)})", False)],
    ids=["bare", "lists-them-already"],
)
def test_an_unknown_circuit_names_the_shipped_ones_once(message, hinted, caplog):
    with caplog.at_level(logging.ERROR, logger="miner"):
        assert run_daemon(failing_with(CircuitNotFound(message)), "miner") == 1
    assert caplog.text.count(FOLDERS[0]) == 1
    assert (f"the shipped circuits are {', '.join(FOLDERS)}" in caplog.text) is hinted


def test_a_clean_finish_is_exit_code_0():
    assert run_daemon(lambda stop: asyncio.sleep(0), "miner") == 0


def test_a_programming_error_is_not_swallowed():
    with pytest.raises(ZeroDivisionError):
        run_daemon(failing_with(ZeroDivisionError("bug")), "miner")


@pytest.mark.anyio
async def test_until_stopped_returns_the_result_or_cancels_on_stop():
    stop = asyncio.Event()
    assert await until_stopped(asyncio.sleep(0, result=7), stop) == 7
    started, cancelled = asyncio.Event(), asyncio.Event()

    async def forever():
        started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise

    waiting = asyncio.create_task(until_stopped(forever(), stop))
    await started.wait()
    stop.set()
    assert await asyncio.wait_for(waiting, timeout=5) is None
    assert cancelled.is_set()
