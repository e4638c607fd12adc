"""W&B logger: a no-op unless enabled; offline mode writes a run to disk and needs no key."""

from __future__ import annotations

import socket

import pytest

from utils.wandb_log import NullLogger, RunLoggerError, WandbLogger, make_run_logger


def exercise(logger) -> None:
    logger.log_response(
        uid=3, hotkey="5Fhk", circuit_id="mnist", verified=True, response_s=1.25, proof_bytes=4096, score=0.8
    )
    logger.log_response(
        uid=4, hotkey="5Fhk4", circuit_id="mnist", verified=False, response_s=None, proof_bytes=0, score=0.0
    )
    logger.log_round(round_index=1, responses=2, verified=1, mean_score=0.4, mean_response_s=1.25)
    logger.log_round(round_index=2, responses=0, verified=0, mean_score=0.0, mean_response_s=None)
    logger.log_proof(circuit_id="mnist", witness_s=0.1, prove_s=2.5, proof_bytes=4096)
    logger.finish()


def test_disabled_logger_is_a_null_logger_that_accepts_every_call():
    logger = make_run_logger(enabled=False, component="validator", env={})
    assert isinstance(logger, NullLogger)
    exercise(logger)


def test_wandb_mode_disabled_wins_over_the_flag():
    logger = make_run_logger(enabled=True, component="miner", env={"WANDB_MODE": "disabled"})
    assert isinstance(logger, NullLogger)


def test_enabled_online_without_api_key_is_a_clear_error():
    with pytest.raises(RunLoggerError, match=r"WANDB_API_KEY is not set: .*--wandb\.offline"):
        make_run_logger(enabled=True, component="validator", env={})


@pytest.fixture
def offline_env(tmp_path, monkeypatch):
    """wandb confined to tmp_path, offline, quiet; Python-side connects limited to local sockets."""
    for name in ("WANDB_API_KEY", "WANDB_BASE_URL", "WANDB_ENTITY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.setenv("WANDB_DIR", str(tmp_path / "runs"))
    monkeypatch.setenv("WANDB_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("WANDB_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("WANDB_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("WANDB_DISABLE_CODE", "true")
    monkeypatch.setenv("WANDB_DISABLE_GIT", "true")

    real_connect = socket.socket.connect

    def local_only(self, address):
        local = isinstance(address, tuple) and address[0] in ("127.0.0.1", "::1", "localhost")
        if self.family == socket.AF_UNIX or local:
            return real_connect(self, address)
        raise AssertionError(f"network access attempted: {address!r}")

    monkeypatch.setattr(socket.socket, "connect", local_only)
    return tmp_path / "runs"


def test_offline_mode_writes_a_run_directory_without_a_key(offline_env):
    logger = make_run_logger(enabled=True, component="validator", config={"netuid": 1})
    assert isinstance(logger, WandbLogger)
    exercise(logger)
    runs = list((offline_env / "wandb").glob("offline-run-*"))
    assert len(runs) == 1
    assert list(runs[0].glob("run-*.wandb")), "the run's data file was not written"


def test_an_alert_is_recorded_in_the_run_as_a_wandb_alert(offline_env):
    """``alert`` goes through wandb's own ``run.alert`` (an offline run keeps it for sync)."""
    import time

    from tests.support.wandb_runs import wandb_records

    logger = make_run_logger(enabled=True, component="validator")
    logger.alert(title="weights not on chain", text="weights of block 10 missing: version key")
    logger.finish()
    (run_file,) = (offline_env / "wandb").glob("offline-run-*/run-*.wandb")
    # wandb's service may still be writing a second run of one process after finish returns:
    # wait (bounded) for the run's exit record.
    deadline = time.monotonic() + 20
    while True:
        records = list(wandb_records(run_file))
        kinds = [r.WhichOneof("record_type") for r in records]
        if "exit" in kinds or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    alerts = [r.alert for r in records if r.WhichOneof("record_type") == "alert"]
    assert [(a.title, a.text, a.level) for a in alerts] == [
        ("weights not on chain", "weights of block 10 missing: version key", "WARN")
    ], kinds


def test_the_null_logger_accepts_an_alert():
    NullLogger().alert(title="t", text="x")
