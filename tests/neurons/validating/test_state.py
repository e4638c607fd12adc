"""Validator state: round trip, atomic writes, and bad files kept aside, never lost."""

from __future__ import annotations

import json
import logging
import os

import pytest
from pydantic import ValidationError

import neurons.validating.state as vs
from neurons.validating.scoring import CircuitStats
from neurons.validating.state import SCHEMA_VERSION, StateError, StateStore, ValidatorState

NOW = 1_780_000_000.0


def sample_state() -> ValidatorState:
    return ValidatorState(
        averages={0: 0.25, 7: 0.9},
        hotkeys={0: "5Fhk0", 7: "5Fhk7"},
        last_weights_block=1234,
        circuits={"mnist": CircuitStats(times=(0.5, 0.75, 1.25), min_proof_bytes=4096,
                                        recent={7: (0.5, 0.75)})},
        counters={"rounds": 12, "verified": 30},
    )


@pytest.fixture
def store(tmp_path):
    return StateStore(tmp_path / "state" / "validator.json", clock=lambda: NOW)


def test_round_trip_restores_an_equal_state(store):
    store.save(sample_state())
    loaded = store.load()
    assert not loaded.fresh and loaded.quarantined is None
    assert loaded.state == sample_state()
    assert loaded.state.circuits["mnist"].times == (0.5, 0.75, 1.25)


def test_missing_file_starts_fresh_without_complaint(store):
    loaded = store.load()
    assert loaded.fresh and loaded.quarantined is None and loaded.problem is None
    assert loaded.state == ValidatorState()


def test_file_is_json_with_a_schema_version(store):
    store.save(sample_state())
    data = json.loads(store.path.read_text())
    assert data["schema_version"] == SCHEMA_VERSION
    assert data["averages"] == {"0": 0.25, "7": 0.9}


def test_failed_replace_leaves_the_old_file_intact_and_no_temp_behind(store, monkeypatch):
    """A crash between writing the temp file and renaming it must not touch the old state."""
    store.save(sample_state())
    before = store.path.read_bytes()

    def boom(src, dst):
        raise OSError("simulated crash before rename")

    monkeypatch.setattr(vs.os, "replace", boom)
    with pytest.raises(StateError, match="simulated crash"):
        store.save(ValidatorState(averages={1: 1.0}))
    monkeypatch.undo()
    assert store.path.read_bytes() == before
    assert sorted(p.name for p in store.path.parent.iterdir()) == ["validator.json"]
    assert store.load().state == sample_state()


def test_save_fsyncs_before_renaming(store, monkeypatch):
    calls = []
    real_fsync, real_replace = os.fsync, os.replace
    monkeypatch.setattr(vs.os, "fsync", lambda fd: (calls.append("fsync"), real_fsync(fd))[1])
    monkeypatch.setattr(vs.os, "replace", lambda a, b: (calls.append("replace"), real_replace(a, b))[1])
    store.save(sample_state())
    assert calls.index("fsync") < calls.index("replace")


@pytest.mark.parametrize(
    "content, why",
    [
        (b"{not json", "invalid"),
        (b"", "invalid"),
        (b"\xff\xfe\x00garbage", "invalid"),
        (json.dumps({"schema_version": 1, "averages": {"x": "high"}}).encode(), "averages"),
        (json.dumps([1, 2, 3]).encode(), "invalid"),
    ],
)
def test_corrupt_file_is_kept_aside_and_validator_starts_fresh(store, content, why, caplog):
    store.path.parent.mkdir(parents=True)
    store.path.write_bytes(content)
    with caplog.at_level(logging.ERROR, logger="neurons.validating.state"):
        loaded = store.load()
    assert loaded.fresh and loaded.state == ValidatorState()
    assert loaded.quarantined == store.path.with_name(f"validator.json.corrupt-{int(NOW)}")
    assert loaded.quarantined.read_bytes() == content  # nothing lost
    assert not store.path.exists()
    assert why in loaded.problem
    assert str(loaded.quarantined) in caplog.text


def test_unreadable_state_path_is_moved_aside(store):
    """A directory where the file should be cannot be read: it is renamed, not deleted."""
    store.path.mkdir(parents=True)
    (store.path / "inside").write_text("keep me")
    loaded = store.load()
    assert loaded.fresh and "unreadable" in loaded.problem
    assert (loaded.quarantined / "inside").read_text() == "keep me"


@pytest.mark.parametrize(
    "field, value",
    [("averages", {"1": 1.5}), ("averages", {"-1": 0.5}), ("counters", {"rounds": -1})],
)
def test_out_of_range_values_count_as_corrupt(store, field, value):
    store.path.parent.mkdir(parents=True)
    store.path.write_text(json.dumps({"schema_version": SCHEMA_VERSION, field: value}))
    loaded = store.load()
    assert loaded.quarantined is not None and field in loaded.problem


@pytest.mark.parametrize(
    "payload",
    [
        {"schema_version": SCHEMA_VERSION + 1},  # would otherwise validate
        {"schema_version": SCHEMA_VERSION + 1, "new_field": [1]},  # unknown fields
    ],
)
def test_future_schema_version_is_kept_aside_with_a_clear_reason(store, payload):
    store.path.parent.mkdir(parents=True)
    store.path.write_text(json.dumps(payload))
    loaded = store.load()
    assert loaded.fresh and loaded.quarantined is not None
    assert f"schema_version {SCHEMA_VERSION + 1} is newer" in loaded.problem
    assert json.loads(loaded.quarantined.read_text()) == payload


def test_second_corrupt_file_in_the_same_second_does_not_overwrite_the_first(store):
    store.path.parent.mkdir(parents=True)
    store.path.write_text("bad one")
    first = store.load().quarantined
    store.path.write_text("bad two")
    second = store.load().quarantined
    assert first != second
    assert first.read_text() == "bad one" and second.read_text() == "bad two"


def test_bad_file_that_cannot_be_moved_aside_raises_instead_of_starting_fresh(store, monkeypatch):
    store.path.parent.mkdir(parents=True)
    store.path.write_text("{broken")

    def refuse(src, dst):
        raise PermissionError("read-only directory")

    monkeypatch.setattr(vs.os, "replace", refuse)
    with pytest.raises(StateError, match="moving it aside failed"):
        store.load()
    monkeypatch.undo()
    assert store.path.read_text() == "{broken"


def test_save_after_quarantine_writes_a_new_file(store):
    store.path.parent.mkdir(parents=True)
    store.path.write_text("{broken")
    loaded = store.load()
    store.save(sample_state())
    assert store.load().state == sample_state()
    assert loaded.quarantined.read_text() == "{broken"


def test_state_is_frozen():
    """Assigning a field is refused with pydantic's frozen-instance error and changes nothing."""
    state = sample_state()
    with pytest.raises(ValidationError) as refused:
        state.last_weights_block = 5  # type: ignore[misc]
    assert [error["type"] for error in refused.value.errors()] == ["frozen_instance"]
    assert state.last_weights_block == 1234


def test_a_version_1_state_file_loads_without_registration_blocks(store):
    """Version 2 added ``registered``; a file an older validator wrote still loads (and its
    changed hotkeys are then resets, see scoring.reconcile)."""
    store.path.parent.mkdir(parents=True)
    store.path.write_text(json.dumps({"schema_version": 1, "averages": {"3": 0.5}, "hotkeys": {"3": "hk"}}))
    loaded = store.load()
    assert not loaded.fresh and loaded.state.averages == {3: 0.5} and loaded.state.registered == {}


def test_a_writable_state_folder_passes_the_check_and_is_created(tmp_path):
    store = StateStore(tmp_path / "new" / "run" / "state.json")
    store.check_writable()
    assert (tmp_path / "new" / "run").is_dir() and list((tmp_path / "new" / "run").iterdir()) == []


def test_an_unwritable_state_folder_is_one_state_error_naming_it_and_the_flag(tmp_path):
    """Tried: a state folder that cannot hold files (its parent is a file: root ignores chmod, so
    permissions cannot stand in). Must hold: StateError naming the folder and --state.dir."""
    (tmp_path / "blocker").write_text("not a folder")
    store = StateStore(tmp_path / "blocker" / "run" / "state.json")
    with pytest.raises(StateError, match=r"state folder .*blocker/run is not writable .*--state\.dir"):
        store.check_writable()


def test_a_pending_weights_check_round_trips():
    from neurons.validating.state import WeightsCheck, WrittenWeights

    check = WeightsCheck(uid=0, commit_reveal=True, due_block=None,
                         writes=(WrittenWeights(block=10, row={1: 65535, 2: 30000}),))
    state = ValidatorState(averages={1: 0.5}, weights_check=check)
    assert ValidatorState.model_validate_json(state.model_dump_json()) == state


def test_a_version_2_state_file_is_migrated_with_no_weights_check_pending(store, caplog):
    """Version 3 added ``weights_check``: a version-2 file loads with none pending and is
    stamped version 3, so the next save does not claim version 2 for a file holding one."""
    store.path.parent.mkdir(parents=True)
    store.path.write_text(json.dumps({"schema_version": 2, "averages": {"3": 0.5}, "last_weights_block": 9}))
    with caplog.at_level(logging.INFO):
        loaded = store.load()
    assert not loaded.fresh and loaded.state.weights_check is None and loaded.state.last_weights_block == 9
    assert loaded.state.schema_version == SCHEMA_VERSION == 4
    assert "from schema_version 2 to 4" in caplog.text
    store.save(loaded.state)
    assert json.loads(store.path.read_text())["schema_version"] == 4


def test_a_version_3_state_file_loads_with_no_recent_times_and_is_saved_as_version_4(store, caplog):
    """Version 4 added each uid's recent times per circuit (``CircuitStats.recent``): a version-3
    file keeps its circuits' time windows and averages, has no miner's recent times (each is
    judged on its times from then on), and the next save says version 4 and holds them."""
    store.path.parent.mkdir(parents=True)
    store.path.write_text(json.dumps({
        "schema_version": 3, "averages": {"3": 0.5}, "hotkeys": {"3": "hk"},
        "circuits": {"mnist": {"times": [0.5, 0.75, 1.25], "min_proof_bytes": 4096}},
    }))
    with caplog.at_level(logging.INFO, logger="neurons.validating.state"):
        loaded = store.load()
    assert not loaded.fresh and loaded.quarantined is None
    assert loaded.state.schema_version == SCHEMA_VERSION == 4
    assert loaded.state.circuits["mnist"] == CircuitStats(times=(0.5, 0.75, 1.25), min_proof_bytes=4096)
    assert loaded.state.circuits["mnist"].recent == {} and loaded.state.averages == {3: 0.5}
    assert "from schema_version 3 to 4" in caplog.text
    store.save(loaded.state.model_copy(update={"circuits": {"mnist": CircuitStats((0.5,), 4096, {3: (0.5,)})}}))
    data = json.loads(store.path.read_text())
    assert data["schema_version"] == 4 and data["circuits"]["mnist"]["recent"] == {"3": [0.5]}
    assert store.load().state.circuits["mnist"].recent == {3: (0.5,)}


def test_temp_files_an_interrupted_save_left_are_deleted_on_load(store, caplog):
    """Tried: a save and a writability probe killed midway (their temp files left). Must hold:
    load deletes exactly those, keeps the state and any other file, and says so at INFO."""
    store.save(sample_state())
    folder = store.path.parent
    leftovers = [folder / ".validator.json.k3j_x9.tmp", folder / ".validator.json.0q1w2e.probe"]
    for path in leftovers:
        path.write_bytes(b'{"schema_version": 2, "aver')
    unrelated = folder / ".other.json.k3j_x9.tmp"
    unrelated.write_bytes(b"not ours")
    with caplog.at_level(logging.INFO, logger=vs.__name__):
        loaded = store.load()
    assert loaded.state == sample_state() and not loaded.fresh
    assert not any(path.exists() for path in leftovers) and unrelated.exists()
    assert "removed 2 temp file(s)" in caplog.text
