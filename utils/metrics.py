"""Prometheus metrics for one neuron, on a registry of its own.

Each ``Metrics`` owns a ``CollectorRegistry``; nothing is registered on
prometheus_client's global default registry, so several neurons (or tests)
can live in one process. ``serve_metrics`` exposes a registry on
``http://<addr>:<port>/metrics`` from a daemon thread; ``MetricsServer.stop``
shuts it down. Metric names are prefixed with ``namespace`` (default ``poi``).

The endpoint is bounded, because anyone who can reach the port can open
connections to it: at most ``max_connections`` are served at once (more are
closed at once, unread), and a connection that sends nothing for
``idle_timeout_s`` seconds, or has not finished its request within that long,
is closed. prometheus_client's own ``start_http_server`` has neither bound (a
thread per connection, no timeout), so it is not used.
"""

from __future__ import annotations

import socket
import socketserver
import threading
from dataclasses import dataclass
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, make_wsgi_app

__all__ = ["Metrics", "MetricsServer", "serve_metrics", "weights_stale", "METRICS_MAX_CONNECTIONS",
           "METRICS_IDLE_TIMEOUT_S"]

METRICS_MAX_CONNECTIONS = 8  # a scraper needs one; a few more for people with curl
METRICS_IDLE_TIMEOUT_S = 5.0

# Proving with EZKL takes from well under a second to minutes; verifying is faster.
_PROOF_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 40.0, 80.0, 160.0, 320.0)
_VERIFY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    """The metrics both neurons use; each neuron fills in the ones that concern it.

    Miner: ``requests`` (label ``outcome``: ok or the refusal's
    ``protocol.ErrorCode`` value, e.g. busy / unauthenticated / proving_failed),
    ``proof_seconds`` (label ``circuit``), ``queue_depth``,
    ``metagraph_age_seconds``, ``connections_refused`` (label ``reason``: a
    ``neurons.shared.connections.Refusal`` value: per_ip_limit /
    connection_limit / header_timeout / header_too_large / malformed /
    request_limit). Validator:
    ``verifications`` (label ``outcome``: a ``neurons.validating.challenge.Outcome``
    value: accepted / no_response / http_error / bad_response /
    bad_signature / replayed / rejected / late / validator_error / forbidden),
    ``verify_seconds`` (label ``circuit``), ``weight_updates`` (label
    ``outcome``: ok / failed / skipped), ``weight_checks`` (labels
    ``outcome``: landed / missing / different, and ``reason``: why a write
    did not land, as ``neurons.validating.readback`` works it out, ``none``
    when it landed), ``weights_unconfirmed`` (1 while the last read-back did
    not find our weights as written: the alert), ``blocks_since_weights``,
    ``validator_permitted`` (1 while our own neuron may ask miners for work:
    registered, permit, enough stake; 0 while rounds are skipped), ``api_requests``
    (label ``outcome``: ok or the refusal's ``protocol.ApiErrorCode`` value) and
    ``api_attempts`` (label ``outcome``: a challenge ``Outcome`` value per miner asked
    for a client; never part of scoring). Both:
    ``chain_errors`` (label ``operation``: metagraph / serve_axon /
    set_weights / round). The table in docs/pm2.md lists them for operators.
    """

    def __init__(self, *, namespace: str = "poi", registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry(auto_describe=True)
        r, ns = self.registry, namespace
        self.requests = Counter(
            "requests", "Miner: proof requests handled, by outcome.", ["outcome"], namespace=ns, registry=r
        )
        self.verifications = Counter(
            "verifications",
            "Validator: miner responses checked, by outcome.",
            ["outcome"],
            namespace=ns,
            registry=r,
        )
        self.proof_seconds = Histogram(
            "proof_seconds",
            "Miner: witness plus proving time per request.",
            ["circuit"],
            namespace=ns,
            registry=r,
            buckets=_PROOF_BUCKETS,
        )
        self.verify_seconds = Histogram(
            "verify_seconds",
            "Validator: proof verification time per response.",
            ["circuit"],
            namespace=ns,
            registry=r,
            buckets=_VERIFY_BUCKETS,
        )
        self.queue_depth = Gauge(
            "queue_depth", "Miner: proof requests waiting or running.", namespace=ns, registry=r
        )
        self.metagraph_age_seconds = Gauge(
            "metagraph_age_seconds",
            "Miner: seconds since the metagraph it admits validators by was last read from chain.",
            namespace=ns,
            registry=r,
        )
        self.connections_refused = Counter(
            "connections_refused",
            "Miner: connections refused or closed before their request reached the app, by reason.",
            ["reason"],
            namespace=ns,
            registry=r,
        )
        self.weight_updates = Counter(
            "weight_updates",
            "Validator: weight submissions, by outcome.",
            ["outcome"],
            namespace=ns,
            registry=r,
        )
        self.weight_checks = Counter(
            "weight_checks",
            "Validator: weight writes read back from the chain once due, by outcome "
            "(landed / missing / different) and likely reason (none when landed).",
            ["outcome", "reason"],
            namespace=ns,
            registry=r,
        )
        self.weights_unconfirmed = Gauge(
            "weights_unconfirmed",
            "Validator: 1 while the last read-back of its weights did not find them on chain as "
            "written (dropped at reveal, or rejected), 0 once one is found.",
            namespace=ns,
            registry=r,
        )
        self.chain_errors = Counter(
            "chain_errors", "Chain calls that failed, by operation.", ["operation"], namespace=ns, registry=r
        )
        self.blocks_since_weights = Gauge(
            "blocks_since_weights",
            "Validator: blocks since this validator's weights last landed on chain "
            "(since it started, while none has landed).",
            namespace=ns,
            registry=r,
        )
        self.api_requests = Counter(
            "api_requests",
            "Validator API: client requests answered, by outcome (ok or the error code).",
            ["outcome"],
            namespace=ns,
            registry=r,
        )
        self.api_attempts = Counter(
            "api_attempts",
            "Validator API: miners asked for client requests, by outcome (not scored).",
            ["outcome"],
            namespace=ns,
            registry=r,
        )
        self.validator_permitted = Gauge(
            "validator_permitted",
            "Validator: 1 while this validator may ask miners for work (registered, validator permit, "
            "stake at least --validator.min_stake), 0 while it skips rounds.",
            namespace=ns,
            registry=r,
        )


@dataclass(frozen=True)
class MetricsServer:
    """A running /metrics endpoint; ``port`` is the bound port (useful after port 0)."""

    server: WSGIServer
    thread: threading.Thread
    host: str
    port: int

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/metrics"

    def stop(self) -> None:
        """Stop serving and free the port; safe to call twice."""
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


class _Handler(WSGIRequestHandler):
    """prometheus_client's WSGI app behind a handler that is silent and time-bounded.

    ``timeout`` makes every read on the connection give up after that long without data;
    ``handle`` also gives up once the whole request has taken that long (a client dripping
    one header byte at a time keeps no thread)."""

    timeout = METRICS_IDLE_TIMEOUT_S

    def setup(self) -> None:
        super().setup()
        # The socket timeout bounds each read; this bounds the whole request.
        self._watchdog = threading.Timer(self.timeout, self._expire)
        self._watchdog.daemon = True
        self._watchdog.start()

    def _expire(self) -> None:
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass  # already closed

    def handle(self) -> None:
        try:
            super().handle()
        except (TimeoutError, OSError):
            pass  # an idle or slow client: drop it, quietly

    def finish(self) -> None:
        self._watchdog.cancel()
        try:
            super().finish()
        except OSError:
            pass  # the client is gone

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's name
        pass


class _BoundedServer(socketserver.ThreadingMixIn, WSGIServer):
    """A thread per connection, at most ``max_connections`` at once; the rest are closed unread."""

    daemon_threads = True
    max_connections = METRICS_MAX_CONNECTIONS

    def server_activate(self) -> None:
        super().server_activate()
        self._slots = threading.BoundedSemaphore(self.max_connections)
        self.refused = 0

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):
            self.refused += 1
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()


class _BoundedServer6(_BoundedServer):
    address_family = socket.AF_INET6


def serve_metrics(
    registry: CollectorRegistry,
    *,
    port: int,
    addr: str = "127.0.0.1",
    max_connections: int = METRICS_MAX_CONNECTIONS,
    idle_timeout_s: float = METRICS_IDLE_TIMEOUT_S,
) -> MetricsServer:
    """Serve ``registry`` at ``http://addr:port/metrics`` from a daemon thread.

    ``port=0`` binds an ephemeral port (read it from the result). Binding
    ``0.0.0.0`` exposes the endpoint to other hosts; the default does not.
    At most ``max_connections`` connections are served at once and each gets
    ``idle_timeout_s`` seconds in all (see the module docstring).
    Raises ``OSError`` naming ``addr:port`` when it cannot bind (port taken).
    """
    server_class: type[_BoundedServer] = type(
        "_MetricsServer", (_BoundedServer6 if ":" in addr else _BoundedServer,),
        {"max_connections": max_connections},
    )
    handler: type[_Handler] = type("_MetricsHandler", (_Handler,), {"timeout": idle_timeout_s})
    try:
        server: _BoundedServer = make_server(addr, port, make_wsgi_app(registry), server_class, handler)
    except OSError as error:
        raise OSError(
            f"cannot serve metrics on {addr}:{port}: {error.strerror or error}; "
            "stop what holds the port or choose another --metrics.port"
        ) from None
    thread = threading.Thread(target=server.serve_forever, name="metrics", daemon=True)
    thread.start()
    return MetricsServer(server=server, thread=thread, host=addr, port=server.server_port)


def weights_stale(blocks_since_last: int, tempo: int) -> bool:
    """True when our weights last landed more than two tempos ago.

    Weights are consumed once per tempo; missing two in a row means the
    validator's vote is no longer current (and the chain may soon mark it
    inactive). ``tempo`` must be positive.
    """
    if tempo <= 0:
        raise ValueError(f"tempo must be positive, got {tempo}")
    return blocks_since_last > 2 * tempo
