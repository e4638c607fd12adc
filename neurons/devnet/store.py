"""SQLite-backed chain state for the devnet, shared safely by several processes.

The file is opened in WAL mode; every state access (read or write) runs inside
one ``BEGIN IMMEDIATE`` transaction, serialised across processes. A call that
raises inside :meth:`Store.transaction` rolls back: it writes nothing.

Epochs are a function of the block, never of when someone reads. Both kinds of
transaction first apply the epochs due at the current block
(``runtime.run_epochs``); :meth:`Store.transaction` commits them with its own
writes (so the epoch for a boundary lands in the first write at or after it,
before that write, as subtensor runs epochs in ``on_initialize``), while
:meth:`Store.read` always rolls back, so a read never changes the file. A read
at block N therefore sees the writes committed so far plus the epochs due by N,
whether or not anyone read before: every write after wall time reached N lands
at a block >= N and applies those same epochs first, on the same inputs. (Writes
still landing in block N add to what block N shows, as a block's extrinsics do.)

Blocks follow wall time: ``block = GENESIS_BLOCK + floor((now - genesis_time) / block_time)``
(genesis is block 1, so no write ever lands on block 0, which the chain's
rate-limit check treats as "never").
``clock`` is injectable so tests can drive time.
"""

from __future__ import annotations

import contextlib
import logging
import math
import sqlite3
import time
from pathlib import Path
from typing import Callable, Iterator

from . import runtime

__all__ = ["Store", "StateMissing", "DEFAULT_BLOCK_TIME", "GENESIS_BLOCK"]

_log = logging.getLogger("neurons.devnet")

DEFAULT_BLOCK_TIME = 2.0
GENESIS_BLOCK = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS subnets (
    netuid INTEGER PRIMARY KEY,
    tempo INTEGER NOT NULL,
    weights_rate_limit INTEGER NOT NULL,
    min_allowed_weights INTEGER NOT NULL,
    max_weights_limit INTEGER NOT NULL,
    weights_version_key INTEGER NOT NULL,
    max_uids INTEGER NOT NULL,
    created_block INTEGER NOT NULL,
    last_epoch_block INTEGER NOT NULL,
    owner_coldkey TEXT NOT NULL,
    owner_hotkey TEXT NOT NULL,
    serving_rate_limit INTEGER NOT NULL DEFAULT 50,
    max_allowed_validators INTEGER NOT NULL DEFAULT 128,
    immunity_period INTEGER NOT NULL DEFAULT 4096,
    min_non_immune_uids INTEGER NOT NULL DEFAULT 10,
    commit_reveal_weights_enabled INTEGER NOT NULL DEFAULT 1,
    commit_reveal_period INTEGER NOT NULL DEFAULT 1,
    epoch_index INTEGER NOT NULL DEFAULT 0,
    yuma3_enabled INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS owners (hotkey TEXT PRIMARY KEY, coldkey TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS neurons (
    netuid INTEGER NOT NULL,
    uid INTEGER NOT NULL,
    hotkey TEXT NOT NULL,
    coldkey TEXT NOT NULL,
    stake INTEGER NOT NULL DEFAULT 0,
    permit INTEGER NOT NULL DEFAULT 0,
    ip INTEGER NOT NULL DEFAULT 0,
    port INTEGER NOT NULL DEFAULT 0,
    ip_type INTEGER NOT NULL DEFAULT 4,
    protocol INTEGER NOT NULL DEFAULT 4,
    version INTEGER NOT NULL DEFAULT 0,
    axon_block INTEGER NOT NULL DEFAULT 0,
    incentive INTEGER NOT NULL DEFAULT 0,
    dividends INTEGER NOT NULL DEFAULT 0,
    last_update INTEGER NOT NULL DEFAULT 0,
    registered_at INTEGER NOT NULL,
    consensus INTEGER NOT NULL DEFAULT 0,
    validator_trust INTEGER NOT NULL DEFAULT 0,
    active INTEGER NOT NULL DEFAULT 1,
    PRIMARY KEY (netuid, uid),
    UNIQUE (netuid, hotkey)
);
CREATE TABLE IF NOT EXISTS weights (
    netuid INTEGER NOT NULL,
    uid INTEGER NOT NULL,
    dest INTEGER NOT NULL,
    value INTEGER NOT NULL,
    PRIMARY KEY (netuid, uid, dest)
);
CREATE TABLE IF NOT EXISTS bonds (
    netuid INTEGER NOT NULL,
    uid INTEGER NOT NULL,
    dest INTEGER NOT NULL,
    value INTEGER NOT NULL,
    PRIMARY KEY (netuid, uid, dest)
);
CREATE TABLE IF NOT EXISTS permit_overrides (
    netuid INTEGER NOT NULL,
    hotkey TEXT NOT NULL,
    granted INTEGER NOT NULL,
    PRIMARY KEY (netuid, hotkey)
);
-- subtensor TimelockedWeightCommits: (netuid, epoch) -> queue of (hotkey, commit_block,
-- ciphertext, reveal_round); ``id`` keeps the queue's order. ``plaintext`` (JSON) is the
-- devnet's own: what the SDK encrypted, learnt in process (see ``timelock``); NULL if unknown.
CREATE TABLE IF NOT EXISTS timelocked_commits (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    netuid INTEGER NOT NULL,
    epoch INTEGER NOT NULL,
    hotkey TEXT NOT NULL,
    commit_block INTEGER NOT NULL,
    ciphertext BLOB NOT NULL,
    reveal_round INTEGER NOT NULL,
    plaintext TEXT
);
-- subtensor pallets/commitments CommitmentOf (+ LastCommitment: ``block``): (netuid, account) ->
-- the fields as [[variant, hex], ...] (JSON), the block they were set at; the deposit is 0.
CREATE TABLE IF NOT EXISTS commitments (
    netuid INTEGER NOT NULL,
    hotkey TEXT NOT NULL,
    block INTEGER NOT NULL,
    fields TEXT NOT NULL,
    PRIMARY KEY (netuid, hotkey)
);
-- subtensor pallets/commitments UsedSpaceOf: bytes committed in the epoch ``last_epoch``.
CREATE TABLE IF NOT EXISTS commitment_usage (
    netuid INTEGER NOT NULL,
    hotkey TEXT NOT NULL,
    last_epoch INTEGER NOT NULL,
    used_space INTEGER NOT NULL,
    PRIMARY KEY (netuid, hotkey)
);
-- Devnet only (the chain keeps no such record): what became of each commit at its reveal.
CREATE TABLE IF NOT EXISTS reveals (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    netuid INTEGER NOT NULL,
    hotkey TEXT NOT NULL,
    commit_epoch INTEGER NOT NULL,
    commit_block INTEGER NOT NULL,
    reveal_block INTEGER NOT NULL,
    outcome TEXT NOT NULL,
    error TEXT NOT NULL DEFAULT '',
    docs TEXT NOT NULL DEFAULT ''
);
"""


class StateMissing(FileNotFoundError):
    """No devnet state file at ``path`` (and the caller did not ask to create one)."""

    def __init__(self, path: Path) -> None:
        super().__init__(f"no devnet state at {path}")
        self.path = path


class Store:
    """One devnet state file. Cheap to open; open one per process (or per client).

    Opening an absent file raises :class:`StateMissing` and writes nothing (no
    file, no folder) unless ``create`` is true: only the admin operations that
    make a chain (``create-subnet``, the local-subnet runner) pass it, so a
    mistyped path never becomes a fresh empty chain.
    ``block_time`` only applies when the file is new; an existing chain keeps its
    own (change it with :meth:`set_block_time`). ``busy_timeout`` is how long a
    transaction waits for another process's lock before ``sqlite3.OperationalError``.
    """

    def __init__(
        self,
        path: Path | str,
        *,
        block_time: float | None = None,
        clock: Callable[[], float] = time.time,
        busy_timeout: float = 30.0,
        create: bool = False,
    ) -> None:
        if block_time is not None and block_time <= 0:
            raise ValueError(f"block time must be positive, got {block_time:g}")
        self.path = Path(path).expanduser()
        self._clock = clock
        if create:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            target, uri = str(self.path), False
        elif not self.path.exists():
            raise StateMissing(self.path)
        else:  # mode=rw: never create the file, even if it vanished since the check
            target, uri = self.path.absolute().as_uri() + "?mode=rw", True
        self._conn = sqlite3.connect(
            target, timeout=busy_timeout, isolation_level=None, check_same_thread=False, uri=uri
        )
        self._conn.execute("PRAGMA journal_mode=WAL")
        # executescript commits implicitly, so the schema goes outside a transaction.
        self._conn.executescript(_SCHEMA)
        with self._begin(commit=True) as conn:  # no epochs: the chain may not exist yet
            _migrate(conn)
            if _meta(conn, "genesis_time") is None:
                _set_meta(conn, "genesis_time", repr(self._clock()))
                _set_meta(conn, "block_time", repr(block_time or DEFAULT_BLOCK_TIME))

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write: :meth:`write` without the block number."""
        with self.write() as (conn, _block):
            yield conn

    @contextlib.contextmanager
    def write(self) -> Iterator[tuple[sqlite3.Connection, int]]:
        """A write: ``BEGIN IMMEDIATE``, the epochs due at ``block``, the caller's
        writes at that same ``block``, ``COMMIT``; any exception rolls back and propagates."""
        with self._begin(commit=True) as conn:
            block = self.block(conn)
            (seen,) = conn.execute("SELECT COALESCE(MAX(id), 0) FROM reveals").fetchone()
            runtime.run_epochs(conn, block)
            yield conn, block
            outcomes = conn.execute(
                "SELECT netuid, hotkey, commit_block, reveal_block, outcome, error, docs "
                "FROM reveals WHERE id > ? ORDER BY id", (seen,)
            ).fetchall()
        # Logged after COMMIT, from writes only: reads apply the same reveals and roll them
        # back, so each reveal is logged once, by the process whose write committed it.
        for netuid, hotkey, committed, revealed, outcome, error, docs in outcomes:
            if outcome == "revealed":
                _log.info("netuid %d: revealed %s's weights committed at block %d (block %d)",
                          netuid, hotkey, committed, revealed)
            else:
                _log.warning("netuid %d: dropped %s's commit of block %d at block %d: %s: %s",
                             netuid, hotkey, committed, revealed, error, docs)

    @contextlib.contextmanager
    def read(self) -> Iterator[tuple[sqlite3.Connection, int]]:
        """A read: yields ``(conn, block)`` with the epochs due at ``block`` applied,
        then rolls back, so the file is never modified (see the module docstring)."""
        with self._begin(commit=False) as conn:
            block = self.block(conn)
            runtime.run_epochs(conn, block)
            yield conn, block

    @contextlib.contextmanager
    def _begin(self, *, commit: bool) -> Iterator[sqlite3.Connection]:
        # IMMEDIATE for reads too: applying due epochs writes (then rolls back), and
        # a deferred transaction upgrading to a writer can fail with SQLITE_BUSY.
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT" if commit else "ROLLBACK")

    def block_time(self, conn: sqlite3.Connection | None = None) -> float:
        return _meta_float(conn or self._conn, "block_time")

    def block(self, conn: sqlite3.Connection | None = None) -> int:
        """The current block number, derived from wall time."""
        conn = conn or self._conn
        genesis = _meta_float(conn, "genesis_time")
        elapsed = max(0.0, self._clock() - genesis)
        return GENESIS_BLOCK + math.floor(elapsed / self.block_time(conn))

    def now(self) -> float:
        return self._clock()

    def set_block_time(self, seconds: float) -> None:
        """Change the block time; the chain keeps its current block number."""
        if seconds <= 0:
            raise ValueError("block time must be positive")
        with self.transaction() as conn:
            current = self.block(conn)
            elapsed = (current - GENESIS_BLOCK) * seconds
            _set_meta(conn, "genesis_time", repr(self._clock() - elapsed))
            _set_meta(conn, "block_time", repr(float(seconds)))

    def close(self) -> None:
        self._conn.close()


# Columns added after state files were already in use: (table, column, declaration). A file
# made before a column existed gets it with its default (the chain's default for that rule).
_ADDED_COLUMNS = (
    ("subnets", "serving_rate_limit", "INTEGER NOT NULL DEFAULT 50"),
    # subtensor runtime/src/lib.rs SubtensorInitialMaxAllowedValidators.
    ("subnets", "max_allowed_validators", "INTEGER NOT NULL DEFAULT 128"),
    ("neurons", "consensus", "INTEGER NOT NULL DEFAULT 0"),
    ("neurons", "validator_trust", "INTEGER NOT NULL DEFAULT 0"),
    ("neurons", "active", "INTEGER NOT NULL DEFAULT 1"),
    ("subnets", "immunity_period", "INTEGER NOT NULL DEFAULT 4096"),
    ("subnets", "min_non_immune_uids", "INTEGER NOT NULL DEFAULT 10"),
    # Commit-reveal is on by default on the chain (DefaultCommitRevealWeightsEnabled), so a
    # subnet from before the devnet modelled it becomes a commit-reveal subnet.
    ("subnets", "commit_reveal_weights_enabled", "INTEGER NOT NULL DEFAULT 1"),
    ("subnets", "commit_reveal_period", "INTEGER NOT NULL DEFAULT 1"),
    ("subnets", "epoch_index", "INTEGER NOT NULL DEFAULT 0"),
    # Off: an older file's subnets ran the original Yuma, whose stored bonds (column
    # max-upscaled) Yuma3 would misread as fractions; it is also the runtime's InitialYuma3On.
    ("subnets", "yuma3_enabled", "INTEGER NOT NULL DEFAULT 0"),
)


def _migrate(conn: sqlite3.Connection) -> None:
    """Add any of :data:`_ADDED_COLUMNS` an older state file lacks (``CREATE TABLE IF NOT
    EXISTS`` leaves an existing table as it was)."""
    for table, column, declaration in _ADDED_COLUMNS:
        present = {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
        if column not in present:
            conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {declaration}")


def _meta(conn: sqlite3.Connection, key: str) -> str | None:
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    return None if row is None else row[0]


def _meta_float(conn: sqlite3.Connection, key: str) -> float:
    """A number the constructor writes into every state file; its absence means a damaged file."""
    value = _meta(conn, key)
    if value is None:
        raise sqlite3.DatabaseError(f"the devnet state has no {key} (the file is damaged)")
    return float(value)


def _set_meta(conn: sqlite3.Connection, key: str, value: str) -> None:
    conn.execute(
        "INSERT INTO meta (key, value) VALUES (?, ?) "
        "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        (key, value),
    )
