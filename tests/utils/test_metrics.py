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


def _open_idle(port: int, count: int, first_line: bytes = b"") -> list:
    """``count`` connections opened at once (non-blocking connects: a server that accepts slowly
    must not make the attack itself slow), each sending ``first_line`` once connected."""
    import select
    import socket

    sockets = []
    for _ in range(count):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        s.connect_ex(("127.0.0.1", port))
        sockets.append(s)
    if first_line:
        pending = list(sockets)
        while pending:
            _, writable, _ = select.select([], pending, [], 5)
            if not writable:
                break
            for s in writable:
                try:
                    s.send(first_line)
                except OSError:
                    pass
                pending.remove(s)
    return sockets


def test_idle_and_slow_connections_take_a_bounded_number_of_threads_and_time_out():
    """Tried: 100 connections that send nothing and 100 that send half a request line, against
    an endpoint of 8 slots with a 0.5 s budget per connection. Must hold: the process gains at
    most 2 threads per slot (handler + watchdog), not one per connection; the surplus is closed
    unread (counted); once the attack stops, a scrape is served again within seconds (while it
    lasts the endpoint may be unavailable: the miner's axon is another server)."""
    import threading
    import time

    baseline = threading.active_count()
    server = serve_metrics(Metrics().registry, port=0, max_connections=8, idle_timeout_s=0.5)
    sockets = []
    try:
        sockets += _open_idle(server.port, 100)
        sockets += _open_idle(server.port, 100, b"GET /metr")
        for _ in range(20):  # sample the thread count while the attack is under way
            assert threading.active_count() <= baseline + 1 + 2 * 8
            time.sleep(0.1)
        assert server.server.refused > 0
        for s in sockets:
            s.close()
        deadline = time.monotonic() + 10
        while True:  # the slots free up once each held one's 0.5 s budget is spent
            try:
                if httpx.get(server.url, timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "the endpoint never recovered"
            time.sleep(0.1)
    finally:
        for s in sockets:
            s.close()
        server.stop()


def test_a_client_dripping_its_request_is_cut_off_at_the_budget():
    """Tried: one byte of the request line every 0.1 s (each read resets a plain socket timeout).
    Must hold: the server closes the connection once the 0.5 s budget for the whole request is
    spent, long before the request could finish."""
    import socket
    import time

    server = serve_metrics(Metrics().registry, port=0, idle_timeout_s=0.5)
    try:
        s = socket.create_connection(("127.0.0.1", server.port), timeout=5)
        started = time.monotonic()
        closed_after = None
        for byte in b"GET /metrics HTTP/1.1\r\nHost: x\r\n" * 4:
            try:
                s.sendall(bytes([byte]))
            except OSError:
                closed_after = time.monotonic() - started
                break
            time.sleep(0.1)
            s.setblocking(False)
            try:
                if s.recv(1) == b"":
                    closed_after = time.monotonic() - started
                    break
            except BlockingIOError:
                pass
            finally:
                s.setblocking(True)
        assert closed_after is not None and closed_after < 5.0
        s.close()
    finally:
        server.stop()


def test_the_metrics_endpoint_binds_loopback_unless_told_otherwise():
    """The flag's default is this machine only; startup hands the flag's value to the server."""
    from neurons.shared.config import validator_parser

    args = validator_parser().parse_args(["--wallet.name", "v"])
    assert args.metrics_addr == "127.0.0.1"
    assert validator_parser().parse_args(["--wallet.name", "v", "--metrics.addr", "0.0.0.0"]).metrics_addr == "0.0.0.0"
