"""The validator's persistent state: one JSON file, written atomically.

``ValidatorState`` is a frozen pydantic model with a ``schema_version``.
``StateStore.save`` writes it to a temp file in the same directory, fsyncs,
and ``os.replace``s it over the old file (then fsyncs the directory), so a
crash at any point leaves either the old or the new file, never a torn one.
A crash inside ``save`` (or ``check_writable``) can leave its temp file
(``.<name>.*.tmp`` or ``.probe``) behind: ``load`` deletes those, so repeated
crashes do not fill the folder (one validator owns a state folder).

``StateStore.load`` never loses a file silently. A missing file gives a
fresh state. A file that cannot be read, is not valid JSON, does not match
the schema, or carries a newer ``schema_version`` than this code knows is
logged at ERROR with the reason, renamed aside to
``<name>.corrupt-<unix time>``, and a fresh state is returned; if it cannot
be moved aside, ``StateError`` is raised instead of starting fresh (a later
save would overwrite it).
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Callable

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from neurons.validating.scoring import CircuitStats

__all__ = [
    "SCHEMA_VERSION", "StateError", "WrittenWeights", "WeightsCheck", "ValidatorState", "Loaded", "StateStore",
]

log = logging.getLogger(__name__)

# 2 added ``registered`` (a version-1 file still loads: it has none, and a changed hotkey
# is then a reset); a validator of version 1 moves a version-2 file aside as "newer".
# 3 added ``weights_check`` (older files load with none pending, and are saved as 3);
# a validator of version 2 moves a version-3 file aside as "newer".
# 4 added each uid's recent valid times per circuit (``CircuitStats.recent``, what a miner's
# speed is judged by); older files load with none, so each miner's speed is judged on its
# times from then on (its single time at first), and are saved as 4.
SCHEMA_VERSION = 4


_Uid = Annotated[int, Field(ge=0, le=65535)]
_Unit = Annotated[float, Field(ge=0.0, le=1.0, allow_inf_nan=False)]
_U16 = Annotated[int, Field(ge=0, le=65535)]
_Block = Annotated[int, Field(ge=0)]


class StateError(Exception):
    """The state file could not be written, or a bad one could not be moved aside."""


class WrittenWeights(BaseModel):
    """One weight write that landed: its block and the u16 row the SDK submitted
    (destination uid to value, as the chain stores it in ``Weights``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    block: _Block
    row: dict[_Uid, _U16]


class WeightsCheck(BaseModel):
    """A weight write the chain must show in our ``Weights`` row from ``due_block`` on.

    ``uid`` is our uid when it was written; ``commit_reveal`` whether the SDK sent it
    as a timelocked commit. ``due_block`` is None for a commit whose reveal period is
    not read yet (``neurons.validating.readback.due_block`` then fixes it).
    ``writes`` holds the write the check is for first, then the writes that landed
    after it before it was read back (newest last): the chain shows the newest one
    that revealed, so any of them on chain is ours as written.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    uid: _Uid
    commit_reveal: bool
    due_block: _Block | None
    writes: tuple[WrittenWeights, ...] = Field(min_length=1)


class ValidatorState(BaseModel):
    """Everything the validator carries across restarts.

    ``averages``, ``hotkeys`` and ``registered`` are keyed by uid: the average
    was earned by the hotkey recorded for that uid, registered at that block
    (see ``scoring.reconcile``: a hotkey swap keeps the block and the average).
    Averages are within [0, 1]; a file with anything else is treated as
    corrupt. ``last_weights_block`` is the block at which our weights last landed,
    None before the first success. ``weights_check`` is the write still to be read
    back from the chain (see ``neurons.validating.readback``), None when none is
    pending: kept here so a restart still checks it. ``circuits`` holds each circuit's
    time scale and, per uid, its recent valid times (``scoring.CircuitStats.recent``): a
    uid's go with its average when another miner registers into it (``scoring.forget``).
    ``counters`` are free-form totals
    (e.g. rounds, verified proofs) kept for operators.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    schema_version: int = Field(default=SCHEMA_VERSION, ge=1)
    averages: dict[_Uid, _Unit] = Field(default_factory=dict)
    hotkeys: dict[_Uid, str] = Field(default_factory=dict)
    registered: dict[_Uid, Annotated[int, Field(ge=0)]] = Field(default_factory=dict)
    last_weights_block: int | None = Field(default=None, ge=0)
    weights_check: WeightsCheck | None = None
    circuits: dict[str, CircuitStats] = Field(default_factory=dict)
    counters: dict[str, Annotated[int, Field(ge=0)]] = Field(default_factory=dict)


@dataclass(frozen=True)
class Loaded:
    """Result of ``StateStore.load``: the state, and where a bad file went (if any)."""

    state: ValidatorState
    fresh: bool  # True when nothing usable was on disk
    quarantined: Path | None = None  # the renamed bad file
    problem: str | None = None  # one line: why the file on disk was not used


class StateStore:
    """Loads and saves ``ValidatorState`` at ``path``; ``clock`` names quarantined files."""

    def __init__(self, path: str | os.PathLike[str], *, clock: Callable[[], float] = time.time) -> None:
        self.path = Path(path)
        self._clock = clock

    def load(self) -> Loaded:
        """Read the state; never raises for a bad file (see the module docstring)."""
        self._remove_leftovers()
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            log.info("no validator state at %s; starting fresh", self.path)
            return Loaded(state=ValidatorState(), fresh=True)
        except OSError as e:
            return self._quarantine(f"unreadable: {e}")
        try:
            state = ValidatorState.model_validate_json(raw)
        except ValidationError as e:
            version = _declared_version(raw)
            if version is not None and version > SCHEMA_VERSION:
                return self._quarantine(
                    f"schema_version {version} is newer than this validator's {SCHEMA_VERSION}"
                )
            first = e.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "<root>"
            return self._quarantine(
                f"invalid ({e.error_count()} validation error(s); first at {where}: {first['msg']})"
            )
        if state.schema_version > SCHEMA_VERSION:
            return self._quarantine(
                f"schema_version {state.schema_version} is newer than this validator's {SCHEMA_VERSION}"
            )
        if state.schema_version < SCHEMA_VERSION:
            # Every later field has a default that means "nothing yet": migrating an older
            # file is stamping it with this version, so the next save says what it holds.
            log.info("migrating validator state %s from schema_version %d to %d",
                     self.path, state.schema_version, SCHEMA_VERSION)
            state = state.model_copy(update={"schema_version": SCHEMA_VERSION})
        log.info(
            "restored validator state from %s: %d uids, %d circuits, last weights at block %s%s",
            self.path,
            len(state.averages),
            len(state.circuits),
            state.last_weights_block,
            "" if state.weights_check is None
            else f", weights of block {state.weights_check.writes[0].block} still to read back",
        )
        return Loaded(state=state, fresh=False)

    def save(self, state: ValidatorState) -> None:
        """Write ``state`` atomically; raises ``StateError`` (old file untouched) on failure."""
        data = state.model_dump_json(indent=1).encode()
        directory = self.path.parent
        try:
            directory.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".tmp", dir=directory)
        except OSError as e:
            raise StateError(f"cannot write validator state in {directory}: {e}") from e
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
        except OSError as e:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise StateError(f"cannot write validator state to {self.path}: {e}") from e
        _fsync_dir(directory)

    def check_writable(self) -> None:
        """Create the state's folder if needed and prove a file can be written there; raises
        ``StateError`` naming the folder and what to do. Called at start, so an unwritable
        folder is one line before any round, not a failure after the first one."""
        directory = self.path.parent
        try:
            directory.mkdir(parents=True, exist_ok=True)
            fd, probe = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".probe", dir=directory)
            os.close(fd)
            os.unlink(probe)
        except OSError as e:
            raise StateError(
                f"the validator's state folder {directory} is not writable ({e.strerror or e}); "
                "fix its permissions or choose another with --state.dir"
            ) from e

    def _remove_leftovers(self) -> None:
        """Delete the temp files an interrupted ``save`` or ``check_writable`` left (best effort)."""
        leftovers = [
            p for pattern in (f".{self.path.name}.*.tmp", f".{self.path.name}.*.probe")
            for p in self.path.parent.glob(pattern)
        ]
        removed = 0
        for leftover in leftovers:
            try:
                leftover.unlink()
                removed += 1
            except OSError:
                pass  # harmless: a later load tries again
        if removed:
            log.info("removed %d temp file(s) an interrupted save left in %s", removed, self.path.parent)

    def _quarantine(self, problem: str) -> Loaded:
        target = self.path.with_name(f"{self.path.name}.corrupt-{int(self._clock())}")
        n = 1
        while target.exists():
            target = self.path.with_name(f"{self.path.name}.corrupt-{int(self._clock())}-{n}")
            n += 1
        try:
            os.replace(self.path, target)
        except OSError as e:
            raise StateError(
                f"validator state {self.path} is {problem}, and moving it aside failed ({e}); "
                "fix or move the file by hand, then restart"
            ) from e
        log.error(
            "validator state %s is %s; kept it as %s and starting fresh", self.path, problem, target
        )
        return Loaded(state=ValidatorState(), fresh=True, quarantined=target, problem=problem)


def _declared_version(raw: bytes) -> int | None:
    """The ``schema_version`` a JSON object claims, or None if it is not readable as one."""
    try:
        obj = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return None
    version = obj.get("schema_version") if isinstance(obj, dict) else None
    return version if isinstance(version, int) else None


def _fsync_dir(directory: Path) -> None:
    """Make the rename durable; best effort where directories cannot be opened."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
