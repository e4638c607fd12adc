"""Metrics: own registry per neuron, scraped over HTTP; the weights-staleness rule."""

from __future__ import annotations

import httpx
import pytest
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from utils.metrics import Metrics, serve_metrics, weights_stale


def samples(text: str) -> dict[tuple[str, tuple], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


@pytest.fixture
def served():
    metrics = Metrics()
    server = serve_metrics(metrics.registry, port=0, addr="127.0.0.1")
    yield metrics, server
    server.stop()


def test_endpoint_serves_the_neurons_metrics(served):
    metrics, server = served
    metrics.requests.labels(outcome="ok").inc(3)
    metrics.verifications.labels(outcome="rejected").inc()
    metrics.proof_seconds.labels(circuit="mnist").observe(1.7)
    metrics.verify_seconds.labels(circuit="mnist").observe(0.02)
    metrics.queue_depth.set(2)
    metrics.weight_updates.labels(outcome="ok").inc()
    metrics.chain_errors.labels(operation="set_weights").inc()
    metrics.blocks_since_weights.set(361)

    r = httpx.get(server.url, timeout=5)
    assert r.status_code == 200
    got = samples(r.text)
    assert got[("poi_requests_total", (("outcome", "ok"),))] == 3
    assert got[("poi_verifications_total", (("outcome", "rejected"),))] == 1
    assert got[("poi_proof_seconds_count", (("circuit", "mnist"),))] == 1
    assert got[("poi_proof_seconds_sum", (("circuit", "mnist"),))] == pytest.approx(1.7)
    assert got[("poi_verify_seconds_bucket", (("circuit", "mnist"), ("le", "0.025")))] == 1
    assert got[("poi_queue_depth", ())] == 2
    assert got[("poi_weight_updates_total", (("outcome", "ok"),))] == 1
    assert got[("poi_chain_errors_total", (("operation", "set_weights"),))] == 1
    assert got[("poi_blocks_since_weights", ())] == 361


def test_two_neurons_in_one_process_do_not_share_metrics():
    a, b = Metrics(), Metrics()
    a.requests.labels(outcome="ok").inc()
    assert a.registry.get_sample_value("poi_requests_total", {"outcome": "ok"}) == 1
    assert b.registry.get_sample_value("poi_requests_total", {"outcome": "ok"}) is None
    assert REGISTRY.get_sample_value("poi_requests_total", {"outcome": "ok"}) is None


def test_stop_frees_the_port():
    metrics = Metrics()
    first = serve_metrics(metrics.registry, port=0)
    port = first.port
    first.stop()
    first.stop()  # idempotent
    again = serve_metrics(metrics.registry, port=port)
    try:
        assert httpx.get(again.url, timeout=5).status_code == 200
    finally:
        again.stop()


@pytest.mark.parametrize(
    "blocks, tempo, stale",
    [(0, 360, False), (720, 360, False), (721, 360, True), (10_000, 100, True)],
)
def test_weights_stale_after_more_than_two_tempos(blocks, tempo, stale):
    assert weights_stale(blocks, tempo) is stale


def test_weights_stale_refuses_a_non_positive_tempo():
    with pytest.raises(ValueError):
        weights_stale(10, 0)


def test_taken_port_is_an_oserror_naming_address_port_and_flag():
    first = serve_metrics(Metrics().registry, port=0)
    try:
        with pytest.raises(OSError, match=rf"cannot serve metrics on 127\.0\.0\.1:{first.port}: .*--metrics\.port"):
            serve_metrics(Metrics().registry, port=first.port)
    finally:
        first.stop()
