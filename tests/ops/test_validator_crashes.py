"""The validator SIGKILLed at 20 seeded random points of its rounds, restarted each time.

What is tried: one devnet (1 s blocks, tempo 20, a weights rate limit of 8
blocks: longer than a restart, so a validator killed just after a weight write
comes back inside the limit), one real miner serving ``wine_mlp`` (the cheapest
shipped circuit) with real EZKL proofs, and the real ``neurons/validator.py``
(1 s rounds). The validator is started, killed with SIGKILL (its whole process
group, as the OOM killer or pm2's tree kill does: no handler runs) and started
again, :data:`KILLS` times. Each kill falls a seeded random delay after a
seeded random anchor of :data:`ANCHORS`: the process start (start-up), a
round's first line (challenging, verifying), a new temp file of the state
(inside the save), the state file's replacement (setting weights, appending
the report), a "weights committed" line (a landed write: commit-reveal is the devnet's default) (appending the report, the next round; the
restart then comes back inside the rate limit of that write). Then it runs
:data:`FINAL_ROUNDS` more rounds and is stopped with SIGINT.

A state written in place instead of atomically is not what this can catch:
under SIGKILL (unlike a power cut) the page cache survives, so only a kill in
the microseconds between truncating and writing would tear it;
``tests/neurons/validating/test_state.py`` pins the temp-file, fsync, rename order.

The order in ``Validator.run_round`` is: score the round, save the state (the
round counted in ``counters["rounds"]``), submit weights (a landed write saves
the state again, with ``last_weights_block``), append the round's line to
``reports.jsonl``. What must hold, after every life and at the end:

- the state always loads: it parses as a ``ValidatorState``, no
  ``state.json.corrupt-*`` ever appears, no life logs an ERROR or starts
  fresh once a state was saved, and no temp file of a killed save is left
  once the validator has started again;
- ``counters["rounds"]`` never goes backwards;
- in each life the rounds the state gained minus the lines the report gained
  is 0 or 1: 1 only when the kill fell after the interrupted round's save and
  before its line was whole on disk (that line is lost, the round's scores are
  not); a clean stop loses none. (So over many kills the state may lead the
  report by more than one: one line per such kill, never more.);
- every line of ``reports.jsonl`` but the last is whole JSON; the last is
  whole, or torn only right after a kill, and never after a clean stop;
- no weight write is refused by the chain for its rate limit
  (``SettingWeightsTooFast`` is in no log), and the validator uid's
  ``LastUpdate`` on the chain, watched every 0.2 s for the whole run, never
  moves by less than the rate limit, also across restarts inside it.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import re
import signal
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Self

import pytest

from neurons.validating.state import ValidatorState
from tests.support.devnet import Devnet, make_devnet
from tests.support.paths import PYTHON
from tests.support.ports import free_port
from tests.support.processes import Neuron, error_lines, isolated_env

CIRCUIT = "wine_mlp"
KILLS = 20
FINAL_ROUNDS = 3
SEED = 20261201
RATE_LIMIT = 8  # blocks (of 1 s): a restart plus a round take about 6
TEMPO = 20
# Where a kill falls: a seeded uniform delay after an anchor, the anchor itself drawn
# (seeded) from these. Measured on 2 busy cores: start-up (imports, wallet, chain,
# verifier workers) takes 3-5 s and a round about 1.5 s of challenging and verifying;
# 1-15 ms after its "verified" line the state is saved (its temp file exists for the
# ~4 ms of write and fsync, then replaces state.json), and 0-25 ms after that (setting
# weights when the rate limit allows) the report line is appended. Files are polled
# every millisecond. A kill after a "weights committed" line comes back inside the rate
# limit of that write.
STATE_SAVED = "<state saved>"
STATE_TEMP = "<state temp file>"
ANCHORS: dict[str, tuple[str | None, tuple[float, float]]] = {
    "start-up": (None, (0.2, 4.5)),  # from the process start
    "challenging/verifying": ("challenging", (0.0, 1.4)),  # from the round's first line
    "saving": (STATE_TEMP, (0.0, 0.001)),  # from a new temp file of the state (a save takes ~4 ms)
    "weights/report": (STATE_SAVED, (0.0, 0.03)),  # from the state file's replacement
    # The devnet runs commit-reveal by default (as finney), so a landed write is a commit.
    "after a weight write": ("weights committed at block", (0.0, 1.5)),  # report, next round
}


@dataclass
class Life:
    """One run of the validator process: where it was killed, and what it left on disk."""

    anchor: str | None  # a key of ANCHORS; None: the last life, stopped cleanly with SIGINT
    delay_s: float = 0.0
    rounds_before: int = 0
    rounds_after: int = 0
    lines_before: int = 0
    lines_after: int = 0
    torn_after: bool = False  # reports.jsonl ended in a partial line after this life
    leftovers_after: tuple[str, ...] = ()  # temp files in the state folder after this life
    leftovers_at_start: tuple[str, ...] = ()  # temp files in the state folder once this life loaded

    @property
    def lost_lines(self) -> int:
        """Rounds this life saved whose report line it did not append whole."""
        return (self.rounds_after - self.rounds_before) - (self.lines_after - self.lines_before)


@dataclass(frozen=True)
class Run:
    lives: list[Life]
    logs: list[str]
    last_updates: list[int]  # the validator uid's LastUpdate values, each new one once, in order
    run_dir: Path
    final: ValidatorState
    elapsed_s: float


def _kill_at(validator: Neuron, anchor: str, delay_s: float, state: Path, timeout: float = 60.0) -> None:
    """SIGKILL the validator's process group ``delay_s`` after ``anchor`` (module docstring)."""
    fragment, _ = ANCHORS[anchor]
    before = _identity(state)
    old_temps = set(_temps(state.parent))  # left by an earlier life: not this life's save

    def happened() -> bool:
        if fragment == STATE_SAVED:
            return _identity(state) != before
        if fragment == STATE_TEMP:
            return not set(_temps(state.parent)) <= old_temps
        return fragment is None or fragment in validator.text()

    # Polled finely: a save's temp file lives a few milliseconds.
    poll_s = 0.0002 if fragment == STATE_TEMP else 0.001
    deadline = time.monotonic() + timeout
    while not happened():
        assert validator.proc.poll() is None, f"exited before {anchor}:\n{validator.text()}"
        assert time.monotonic() < deadline, f"no {anchor} within {timeout:.0f}s:\n{validator.text()}"
        time.sleep(poll_s)
    time.sleep(delay_s)
    os.killpg(validator.proc.pid, signal.SIGKILL)  # the workers too, as the OOM killer or pm2's tree kill
    validator.proc.wait()


def _identity(path: Path) -> tuple[int, int] | None:
    """(inode, mtime) of ``path``: a replacement changes it. None while it does not exist."""
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return st.st_ino, st.st_mtime_ns


def _state(run_dir: Path) -> ValidatorState | None:
    """The state file as the validator would read it (no side effects), or None before the first save."""
    path = run_dir / "state.json"
    if not path.exists():
        return None
    return ValidatorState.model_validate_json(path.read_bytes())


def _report_lines(run_dir: Path) -> tuple[list[dict], bool]:
    """The whole lines of reports.jsonl, parsed (each must be JSON), and whether a torn last line follows."""
    path = run_dir / "reports.jsonl"
    raw = path.read_bytes() if path.exists() else b""
    whole, _, torn = raw.rpartition(b"\n")
    return [json.loads(line) for line in whole.splitlines()], bool(torn)


def _rounds(state: ValidatorState | None) -> int:
    return 0 if state is None else state.counters.get("rounds", 0)


class _LastUpdateWatch:
    """Polls the validator uid's ``LastUpdate`` from the devnet in a thread; keeps each new value."""

    def __init__(self, net: Devnet, uid: int) -> None:
        self.values: list[int] = []
        self._net, self._uid = net, uid
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _poll(self) -> None:
        while not self._stop.wait(0.2):
            try:
                with contextlib.closing(self._net.open()) as store, store.read() as (conn, _block):
                    (value,) = conn.execute(
                        "SELECT last_update FROM neurons WHERE netuid = ? AND uid = ?", (self._net.netuid, self._uid)
                    ).fetchone()
            except sqlite3.OperationalError:  # the validator holds the write lock: read again next time
                continue
            if not self.values or value != self.values[-1]:
                self.values.append(value)


@pytest.fixture(scope="module")
def run(tmp_path_factory, key_cache) -> Run:
    started = time.monotonic()
    root = tmp_path_factory.mktemp("crashes")
    net = make_devnet(root, validators=("val",), miners=("m1",), tempo=TEMPO, weights_rate_limit=RATE_LIMIT)
    env = isolated_env(root)
    miner = Neuron([
        PYTHON, "neurons/miner.py", *net.chain_flags(), "--wallet.name", "m1", "--axon.port", str(free_port()),
        "--miner.circuits", CIRCUIT, "--keys.cache", str(key_cache),
    ], log=root / "miner.log", env=env)
    state_dir = root / "vstate"
    argv = [
        PYTHON, "neurons/validator.py", *net.chain_flags(), "--wallet.name", "val",
        "--validator.circuits", CIRCUIT, "--validator.round_interval", "1", "--state.dir", str(state_dir),
        "--keys.cache", str(key_cache),
    ]
    rng = random.Random(SEED)
    lives = []
    for _ in range(KILLS):
        anchor = rng.choice(sorted(ANCHORS))
        lives.append(Life(anchor, rng.uniform(*ANCHORS[anchor][1])))
    lives.append(Life(None))
    logs: list[str] = []
    run_dir = state_dir / "devnet-2-val-default"  # neurons.validating.service: network-netuid-wallet-hotkey
    try:
        miner.wait_for_line("announced axon")
        with _LastUpdateWatch(net, uid=0) as watch:
            for n, life in enumerate(lives):
                life.rounds_before = _rounds(_state(run_dir))
                life.lines_before = len(_report_lines(run_dir)[0])
                validator = Neuron(argv, log=root / f"validator-{n}.log", env=env)
                try:
                    if life.anchor is not None:
                        _kill_at(validator, life.anchor, life.delay_s, run_dir / "state.json")
                    else:
                        validator.wait_for_line("round 1 at block")  # the state was loaded before it
                        life.leftovers_at_start = _leftovers(run_dir)
                        validator.wait_for(
                            f"{FINAL_ROUNDS} more rounds",
                            lambda want=life.lines_before + FINAL_ROUNDS: len(_report_lines(run_dir)[0]) >= want,
                            timeout=90,
                        )
                finally:
                    rc = validator.stop()  # SIGINT, as pm2 stops it (a killed one is already gone)
                logs.append(validator.text())
                assert life.anchor is not None or rc == 0, validator.text()
                # After every life: the state parses (or was never saved), every report line
                # but a torn last one parses, and nothing was moved aside.
                life.rounds_after = _rounds(_state(run_dir))
                lines, life.torn_after = _report_lines(run_dir)
                life.lines_after = len(lines)
                life.leftovers_after = _leftovers(run_dir)
                assert not list(run_dir.glob("state.json.corrupt-*")), f"after life {n}: {life}"
        last_updates = watch.values
    finally:
        miner.stop()
    final = _state(run_dir)
    assert final is not None, "the validator never saved its state"
    return Run(lives, logs, last_updates, run_dir, final, time.monotonic() - started)


def _leftovers(run_dir: Path) -> tuple[str, ...]:
    """The state store's temp files in ``run_dir`` (a save's ``.tmp``, a start-up check's ``.probe``)."""
    return tuple(sorted(p.name for p in run_dir.glob(".state.json.*")))


def _temps(run_dir: Path) -> list[str]:
    """The names of a save's temp files in ``run_dir`` (cheap enough to poll every 0.2 ms)."""
    try:
        return [e.name for e in os.scandir(run_dir) if e.name.startswith(".state.json.") and e.name.endswith(".tmp")]
    except FileNotFoundError:
        return []


def test_the_state_always_loads_and_no_life_logs_an_error_or_starts_fresh(run):
    """No corrupt-* file, no ERROR line, no fresh start once a state was saved, no temp file left after a restart."""
    assert not list(run.run_dir.glob("state.json.corrupt-*"))
    for n, (life, text) in enumerate(zip(run.lives, run.logs)):
        assert not error_lines(text), f"life {n} ({life}):\n{text}"
        assert life.rounds_before == 0 or "starting fresh" not in text, f"life {n} ({life}):\n{text}"
    assert run.lives[-1].leftovers_at_start == () and _leftovers(run.run_dir) == ()


def test_rounds_never_go_backwards_and_a_kill_loses_at_most_the_report_line_of_its_round(run):
    """counters["rounds"] only grows; per life, rounds saved minus report lines appended is 0 or 1 (0 when stopped cleanly)."""
    previous = 0
    for n, life in enumerate(run.lives):
        assert previous <= life.rounds_before <= life.rounds_after, (n, run.lives)
        previous = life.rounds_after
        assert life.lost_lines in ((0, 1) if life.anchor is not None else (0,)), (n, run.lives)
    assert run.final.counters["rounds"] == run.lives[-1].rounds_after >= FINAL_ROUNDS


def test_every_report_line_is_whole_json_and_none_is_torn_after_a_clean_stop(run):
    """Each life's lines parsed (checked as they were read); a torn tail only ever right after a kill."""
    assert not run.lives[-1].torn_after
    assert run.lives[-1].lines_after == len(_report_lines(run.run_dir)[0]) >= FINAL_ROUNDS


def test_the_kills_reach_every_part_of_a_round(run):
    """Every anchor is drawn; some kill fell inside a save (its temp file left) and some between
    a round's save and its report line."""
    assert {life.anchor for life in run.lives[:-1]} == set(ANCHORS), run.lives
    assert any(life.leftovers_after for life in run.lives[:-1]), run.lives
    assert any(life.lost_lines == 1 for life in run.lives), run.lives


def test_no_weight_write_is_refused_for_the_rate_limit_nor_lands_inside_it(run):
    """SettingWeightsTooFast is in no log; LastUpdate moves by at least the rate limit, also across
    restarts that came back inside it."""
    assert not [n for n, text in enumerate(run.logs) if "SettingWeightsTooFast" in text]
    writes = run.last_updates[1:]  # the first value is the registration block
    assert len(writes) >= 2, run.last_updates
    gaps = [b - a for a, b in zip(run.last_updates, run.last_updates[1:])]
    assert min(gaps) >= RATE_LIMIT, run.last_updates
    first_rounds = [int(m[1]) for text in run.logs if (m := re.search(r"round 1 at block (\d+)", text))]
    inside = [b for b in first_rounds if any(0 <= b - w < RATE_LIMIT for w in writes)]
    assert inside, ("no restart's first round came inside the rate limit of a write", first_rounds, writes)


def test_the_whole_run_fits_a_small_ci_machine(run):
    """20 kills and restarts plus the final rounds stay well inside the suite's 20 minutes.

    Measured on 2 cores: 86-150 s alone, 250 s inside the whole suite with three other suites
    running beside it (each restart's start-up, 3-5 s alone, is most of it).
    """
    assert run.elapsed_s < 420, run.elapsed_s
