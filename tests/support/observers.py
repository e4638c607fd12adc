"""Observers that record what the neurons report (the miner app's events, the run logger's
alerts), for assertions."""

from __future__ import annotations

from dataclasses import dataclass, field

from utils.wandb_log import NullLogger

__all__ = ["RecordingObserver", "RecordingRunLogger"]


@dataclass
class RecordingObserver:
    """Records the miner app's metrics events, in order."""

    requests: list[tuple[str, str, int]] = field(default_factory=list)
    proofs: list[tuple[str, float, bool]] = field(default_factory=list)
    depths: list[tuple[int, int]] = field(default_factory=list)

    def request_finished(self, route: str, outcome: str, status: int) -> None:
        self.requests.append((route, outcome, status))

    def prove_finished(self, circuit_id: str, seconds: float, ok: bool) -> None:
        self.proofs.append((circuit_id, seconds, ok))

    def queue_depth(self, running: int, waiting: int) -> None:
        self.depths.append((running, waiting))


@dataclass
class RecordingRunLogger(NullLogger):
    """A run logger that drops every log call and records every alert as (title, text)."""

    alerts: list[tuple[str, str]] = field(default_factory=list)

    def alert(self, *, title: str, text: str) -> None:
        self.alerts.append((title, text))
