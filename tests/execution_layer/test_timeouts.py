"""Timeouts: one rule from the build's measurement (execution_layer.timeouts), policy rather than circuit."""

from __future__ import annotations

import json

import pytest

from execution_layer import CircuitRegistry, ExecutionError, timeouts
from execution_layer._manifest import Manifest
from execution_layer.timeouts import CEILING_S, FLOOR_S, MARGIN, MINIMUM_CORES, Measurement, timeout_for, too_slow
from tests.support.models import MODELS, SHIPPED, copy_models


def measured(cpu_s: float, *, wall_s: float = 1.0, cores: int = 2) -> Measurement:
    return Measurement(prove_s=wall_s, prove_cpu_s=cpu_s, cores=cores, max_error=0.001, reference_error=0.001,
                       max_error_target=0.0015)


@pytest.mark.parametrize("cpu_s, expected", [
    pytest.param(0.8, FLOOR_S, id="cheap-gets-the-floor"),
    pytest.param(10.0, 15.0, id="3x-of-5s-on-2-cores"),
    pytest.param(10.1, 16.0, id="rounded-up-to-whole-seconds"),
])
def test_the_timeout_is_margin_times_cpu_seconds_over_the_minimum_cores_with_a_floor(cpu_s, expected):
    assert (MARGIN, MINIMUM_CORES) == (3.0, 2)  # the documented rule's numbers, which the cases below assume
    assert timeout_for(measured(cpu_s)) == expected


def test_wall_time_and_the_build_machines_cores_do_not_move_the_timeout():
    """A build on a loaded machine (long wall time) or a big one gets the same timeout: CPU seconds count."""
    assert timeout_for(measured(8.0, wall_s=30.0)) == timeout_for(measured(8.0, cores=64)) == 12.0


def test_too_slow_names_the_numbers_only_past_the_ceiling():
    assert too_slow(measured(2 * CEILING_S / MARGIN)) is None  # exactly at the ceiling: allowed
    why = too_slow(measured(2 * CEILING_S / MARGIN + 2))
    assert why is not None and f"over the {CEILING_S:.0f} s a circuit may take" in why and "--scales" in why


@pytest.mark.parametrize("field, value", [("prove_cpu_s", 0.0), ("prove_s", float("nan")), ("cores", 0),
                                          ("max_error", -1.0)])
def test_a_measurement_out_of_range_is_refused(field, value):
    fields = dict(prove_s=1.0, prove_cpu_s=1.0, cores=2, max_error=0.0, reference_error=None, max_error_target=1.0)
    with pytest.raises(ValueError, match=field):
        Measurement(**{**fields, field: value})


def test_changing_the_rule_changes_timeouts_but_no_file_and_no_circuit_id(monkeypatch):
    """Tried: the policy's margin raised tenfold. Holds: every circuit's timeout follows; the manifests,
    the ids and everything the registry pins are unchanged (a timeout is policy, not circuit)."""
    before = CircuitRegistry.load(MODELS)
    manifests = {name: (MODELS / name / "manifest.json").read_bytes() for name in SHIPPED}
    monkeypatch.setattr(timeouts, "MARGIN", MARGIN * 10)
    after = CircuitRegistry.load(MODELS)
    assert [c.id for c in after] == [c.id for c in before]
    assert {name: (MODELS / name / "manifest.json").read_bytes() for name in SHIPPED} == manifests
    for old, new in zip(before, after):
        assert new.timeout_s == max(FLOOR_S, float(-(-MARGIN * 10 * new.measured.prove_s_on_minimum // 1)))
        assert new.timeout_s >= old.timeout_s


def test_a_shipped_circuits_timeout_follows_its_recorded_measurement(registry):
    for circuit in registry:
        manifest = Manifest.read(circuit.directory / "manifest.json")
        assert circuit.measured == manifest.measured and circuit.timeout_s == timeout_for(manifest.measured)
        assert circuit.timeout_s <= CEILING_S


def test_a_manifest_from_before_measurements_asks_for_a_rebuild(tmp_path):
    models = copy_models(tmp_path / "models")
    path = models / SHIPPED[0] / "manifest.json"
    doc = json.loads(path.read_text())
    del doc["measured"]
    path.write_text(json.dumps(doc))
    with pytest.raises(ExecutionError, match="no 'measured'.*rebuild the circuit with python -m execution_layer.build"):
        Manifest.read(path)
