"""A thin Weights & Biases logger, off unless asked for.

``make_run_logger`` returns a ``NullLogger`` (every method a no-op) unless
logging is enabled; callers hold a ``RunLogger`` and never test a flag.

* enabled, online: needs ``WANDB_API_KEY`` in the environment, else
  ``RunLoggerError`` (a clear startup error, not a silent no-op).
* enabled, offline (``offline=True`` or ``WANDB_MODE=offline``): no key,
  runs are written under ``run_dir`` (or ``WANDB_DIR``) for a later
  ``wandb sync``; nothing goes over the network.

Once running, a failing ``log`` or ``alert`` call is logged at WARNING and
dropped: observability must not stop a neuron. ``alert`` is wandb's own alarm
(``run.alert``: an email or Slack message to the run's owner, as set in the
wandb account's alert settings); offline runs record it for a later sync. ``wandb`` is imported only when a
run is started.
"""

from __future__ import annotations

import argparse
import logging
import os
from typing import TYPE_CHECKING, Any, Mapping, Protocol

if TYPE_CHECKING:  # wandb is heavy: imported for real only when a run starts
    import wandb

__all__ = [
    "RunLoggerError",
    "RunLogger",
    "NullLogger",
    "WandbLogger",
    "make_run_logger",
    "add_wandb_args",
]

log = logging.getLogger(__name__)


class RunLoggerError(Exception):
    """W&B logging was enabled but cannot start (missing key, init failed)."""


class RunLogger(Protocol):
    """What the neurons log; ``NullLogger`` and ``WandbLogger`` implement it."""

    def log_response(
        self,
        *,
        uid: int,
        hotkey: str,
        circuit_id: str,
        verified: bool,
        response_s: float | None,
        proof_bytes: int,
        score: float,
    ) -> None: ...

    def log_round(
        self,
        *,
        round_index: int,
        responses: int,
        verified: int,
        mean_score: float,
        mean_response_s: float | None,
    ) -> None: ...

    def log_proof(self, *, circuit_id: str, witness_s: float, prove_s: float, proof_bytes: int) -> None: ...

    def alert(self, *, title: str, text: str) -> None:
        """Raise an alarm for the operator (a WARN-level alert); ``title`` under 64 characters."""
        ...

    def finish(self) -> None: ...


class NullLogger:
    """Logging disabled: accepts every call and does nothing."""

    def log_response(self, **_: Any) -> None:
        pass

    def log_round(self, **_: Any) -> None:
        pass

    def log_proof(self, **_: Any) -> None:
        pass

    def alert(self, **_: Any) -> None:
        pass

    def finish(self) -> None:
        pass


class WandbLogger:
    """Logs to one wandb run (``run`` is what ``wandb.init`` returned)."""

    def __init__(self, run: wandb.Run) -> None:
        self._run = run

    @property
    def run_dir(self) -> str:
        """The run's local directory (``<dir>/wandb/<run>/files``)."""
        return str(self._run.dir)

    def log_response(
        self,
        *,
        uid: int,
        hotkey: str,
        circuit_id: str,
        verified: bool,
        response_s: float | None,
        proof_bytes: int,
        score: float,
    ) -> None:
        data: dict[str, Any] = {
            "response/uid": uid,
            "response/verified": int(verified),
            "response/proof_bytes": proof_bytes,
            "response/score": score,
            f"uid/{uid}/score": score,
        }
        if response_s is not None:
            data["response/response_s"] = response_s
            data[f"uid/{uid}/response_s"] = response_s
        self._log(data, context=f"uid {uid} hotkey {hotkey} circuit {circuit_id}")

    def log_round(
        self,
        *,
        round_index: int,
        responses: int,
        verified: int,
        mean_score: float,
        mean_response_s: float | None,
    ) -> None:
        data: dict[str, Any] = {
            "round/index": round_index,
            "round/responses": responses,
            "round/verified": verified,
            "round/verified_ratio": verified / responses if responses else 0.0,
            "round/mean_score": mean_score,
        }
        if mean_response_s is not None:
            data["round/mean_response_s"] = mean_response_s
        self._log(data, context=f"round {round_index}")

    def log_proof(self, *, circuit_id: str, witness_s: float, prove_s: float, proof_bytes: int) -> None:
        self._log(
            {
                f"proof/{circuit_id}/witness_s": witness_s,
                f"proof/{circuit_id}/prove_s": prove_s,
                f"proof/{circuit_id}/proof_bytes": proof_bytes,
            },
            context=f"circuit {circuit_id}",
        )

    def alert(self, *, title: str, text: str) -> None:
        """``run.alert`` at level WARN; wandb itself throttles repeats of one title
        (``wait_duration``, 1 minute by default)."""
        import wandb  # already imported: this logger exists only once a run started

        try:
            self._run.alert(title=title[:63], text=text, level=wandb.AlertLevel.WARN)  # type: ignore[attr-defined]  # exported lazily
        except Exception as e:  # observability must not take the neuron down
            log.warning("wandb: dropping an alert (%s): %s", title, e)

    def finish(self) -> None:
        try:
            self._run.finish()
        except Exception as e:  # observability must not take the neuron down
            log.warning("wandb: finishing the run failed: %s", e)

    def _log(self, data: Mapping[str, Any], *, context: str) -> None:
        try:
            self._run.log(dict(data))
        except Exception as e:  # observability must not take the neuron down
            log.warning("wandb: dropping a log entry (%s): %s", context, e)


def make_run_logger(
    *,
    enabled: bool,
    component: str,
    project: str = "proof-of-inference",
    entity: str | None = None,
    offline: bool = False,
    run_dir: str | os.PathLike[str] | None = None,
    config: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
) -> RunLogger:
    """A ``NullLogger`` unless ``enabled``; else a ``WandbLogger`` on a new run.

    ``WANDB_MODE=disabled`` in the environment also gives a ``NullLogger``.
    ``component`` (miner / validator) names the run's job type. ``env``
    defaults to ``os.environ``. Raises ``RunLoggerError`` when online
    without ``WANDB_API_KEY`` or when ``wandb.init`` fails.
    """
    environ = os.environ if env is None else env
    if not enabled or environ.get("WANDB_MODE", "").lower() == "disabled":
        return NullLogger()
    offline = offline or environ.get("WANDB_MODE", "").lower() in ("offline", "dryrun")
    if not offline and not environ.get("WANDB_API_KEY"):
        raise RunLoggerError(
            "wandb logging is on (--wandb.on) but WANDB_API_KEY is not set: export it, "
            "add --wandb.offline to keep runs on disk only, or drop --wandb.on"
        )
    import wandb  # heavy; only when a run is really wanted

    directory = str(run_dir) if run_dir is not None else environ.get("WANDB_DIR")
    if directory is not None:
        os.makedirs(directory, exist_ok=True)
    try:
        run = wandb.init(
            project=project,
            entity=entity,
            job_type=component,
            config=dict(config or {}),
            dir=directory,
            mode="offline" if offline else "online",
            reinit="create_new",
            settings=wandb.Settings(console="off", x_disable_stats=True, disable_git=True, save_code=False),
        )
    except Exception as e:  # wandb raises several unrelated types; one clear error here
        raise RunLoggerError(f"wandb could not start a run ({type(e).__name__}: {e})") from e
    log.info("wandb run %s (%s) logging to %s", run.id, "offline" if offline else "online", run.dir)
    return WandbLogger(run)


def add_wandb_args(parser: argparse._ActionsContainer) -> None:
    """Add ``--wandb.on``, ``--wandb.offline``, ``--wandb.project``, ``--wandb.entity``, ``--wandb.dir``.

    Read back as ``args.wandb_on``, ``args.wandb_offline``, ``args.wandb_project``,
    ``args.wandb_entity``, ``args.wandb_dir``. ``parser`` is a parser or an argument group
    (``_ActionsContainer`` is argparse's one base class of the two).
    """
    parser.add_argument("--wandb.on", dest="wandb_on", action="store_true", help="log to Weights & Biases")
    parser.add_argument(
        "--wandb.offline",
        dest="wandb_offline",
        action="store_true",
        help="write wandb runs to disk only (no key, no network); upload later with `wandb sync`",
    )
    parser.add_argument(
        "--wandb.project", dest="wandb_project", default="proof-of-inference", help="wandb project to log to"
    )
    parser.add_argument(
        "--wandb.entity", dest="wandb_entity", default=None, help="wandb team or user (default: the key's own)"
    )
    parser.add_argument("--wandb.dir", dest="wandb_dir", default=None, help="where runs are written")
