"""The miner's HTTP application: authenticated, bounded, deadline-aware proving.

:func:`build_miner_app` returns a FastAPI app with the routes of ``protocol``.
Every request first passes the :class:`neurons.mining.guard.RequestGuard` (declared
size, then policy on the claimed hotkey, then the body bounded in bytes and
time, then the signature) — nothing is parsed or queued before that.
Every response is a JSON body: a protocol message on 200, an
``ErrorResponse`` otherwise (status per ``ErrorCode.http_status``). Answers
to admitted callers are signed for them; the guard's refusals (401, 403,
408, 413, 503) and answers on unknown routes are not signed, so refusing an
unverified caller costs no signature.

``POST /v1/prove``, after the guard, checks in order:

1. body is a valid ``ProofRequest`` (422 ``invalid_request``) of this protocol
   version (422 ``unsupported_version``);
2. the circuit is served here and, with ``pinned``, in the subnet owner's pin (404
   ``unknown_circuit``), and the inputs fit it
   (``check_inputs``: the right number of finite values inside the circuit's
   input range, else 422 ``invalid_inputs`` — the caller's mistake, answered
   before any queue slot or worker is taken);
3. the deadline has not passed (408 ``deadline_exceeded``) and is at most
   ``MAX_DEADLINE_S`` ahead (422 ``invalid_request``: a far deadline would
   let a request wait in the queue for long);
4. the deadline can be met, judged by the recent proving time of this circuit
   (its estimate) and the queue ahead in its lane, pessimistically assuming running
   proofs just started (503 ``busy``, at once: no slot or worker is used). An idle
   lane refuses too when the time left is below one proof's estimate, with
   two exceptions so it can never be locked out of a circuit: a circuit with
   no estimate yet is tried, and so is the first request after no proof of
   the circuit has started for ``probe_after_s`` (a probe; default
   :data:`PROBE_AFTER_S`). A faster proof replaces the estimate at once, a
   slower one moves it up gradually, an abandoned one raises it to the time
   it ran;
5. the caller has fewer than ``max_per_caller`` requests proving or waiting in
   the circuit's lane (so one validator cannot fill a queue and starve the
   others), and a slot of that lane is free — at most its workers prove and its
   ``max_queue`` wait; anything more is answered at once (503 ``busy``);
6. a worker of the lane frees up before the deadline (408 ``deadline_exceeded``).

Lanes (``neurons.mining.lanes``): every served circuit is in one lane, a queue with
workers of its own; rules 4 to 6 count only the request's lane, so a slow proof of
one circuit never refuses or delays a circuit in another lane (by default, one lane
per circuit once ``--miner.workers`` is at least the number of circuits). The lanes
are announced in ``Capabilities.lanes``.

Then the proof is made: ``InvalidInputs`` from the prover is 422
``invalid_inputs`` too, any other ``ExecutionError`` is 500 ``proving_failed``
with its reason (a worker that died mid-proof is ``WorkerCrashed``, saying how
it died), anything else 500 ``internal``; the server keeps serving.

Work nobody can use is abandoned, not finished: when the deadline passes
during proving, or the caller hangs up (the server's ``http.disconnect``),
``prove`` is cancelled — with ``ProverPool.prove`` that kills the worker and
starts a replacement in the background — and the caller's slot is freed at
once. A deadline is answered 408 ``deadline_exceeded`` ("the proof was
abandoned"); a hang-up is answered to nobody (recorded as outcome
``disconnected``, status 499). The next request is admitted at once; its proof
waits, inside its own deadline, until the replacement worker has built its
prover (a second or more with real EZKL), unless another worker is idle.

``GET``/``POST /v1/capabilities`` answers ``Capabilities`` to admitted callers.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import AsyncIterator, Protocol

import bittensor as bt
from fastapi import FastAPI
from pydantic import BaseModel, ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import Response

from execution_layer.types import ExecutionError, InvalidInputs, ProveResult
from neurons.mining.guard import (
    BODY_TIMEOUT_S,
    Admitted,
    CallerPolicy,
    GuardRejected,
    MetagraphSource,
    RequestGuard,
    sign_response,
)
from neurons.mining.lanes import LanePlan, plan_lanes
from neurons.shared.nonces import NonceClock
from neurons.shared.proofs import proof_response
from protocol import (
    MAX_DEADLINE_S,
    MAX_REQUEST_BYTES,
    PROTOCOL_VERSION,
    ROUTE_CAPABILITIES,
    ROUTE_PROVE,
    Capabilities,
    ErrorCode,
    ErrorResponse,
    Lane,
    ProofRequest,
    ProofResponse,
    ProtocolError,
    decode,
    encode,
)

__all__ = ["ProveFn", "InputCheck", "MinerObserver", "build_miner_app", "PROBE_AFTER_S"]

log = logging.getLogger(__name__)

ProveFn = Callable[[str, tuple[float, ...]], Awaitable[ProveResult]]
"""``await prove(circuit_id, inputs)``; raises ``ExecutionError`` when it cannot prove."""

InputCheck = Callable[[str, tuple[float, ...]], object]
"""``check_inputs(circuit_id, inputs)``: raises ``ValueError`` (with a message for the caller)
when the inputs do not fit the circuit; e.g. ``registry.get(circuit_id).check_inputs``."""

_ROUTES = frozenset({ROUTE_PROVE, ROUTE_CAPABILITIES})
_ROUTES_TEXT = f"this miner serves POST {ROUTE_PROVE} and GET or POST {ROUTE_CAPABILITIES}"
_EWMA_WEIGHT = 0.3  # weight of the newest proving time in the per-circuit estimate

PROBE_AFTER_S = 30.0
"""An idle miner whose estimate refuses a circuit's requests tries one anyway once no proof of
that circuit has started for this long: an outlier locks it out for at most this, and the
probes cost at most one abandoned proof (and worker restart) per circuit per period."""

_DISCONNECTED = 499  # nginx's "client closed request": recorded, never sent (nobody is there)


class MinerObserver(Protocol):
    """Hooks for metrics; every method must be cheap and must not raise (errors are logged)."""

    def request_finished(self, route: str, outcome: str, status: int) -> None:
        """One request answered; ``route`` is a protocol route or ``"other"`` (bounded
        label set), ``outcome`` is ``"ok"``, an ``ErrorCode`` value, or ``"disconnected"``
        (the caller hung up mid-proof; ``status`` 499, nothing sent)."""

    def prove_finished(self, circuit_id: str, seconds: float, ok: bool) -> None:
        """One call of the prover returned or raised after ``seconds``."""

    def queue_depth(self, running: int, waiting: int) -> None:
        """The number of requests proving and waiting changed."""


class _Refused(Exception):
    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code


class _HungUp(Exception):
    """The caller closed the connection while its proof was running; the proof was abandoned."""


async def _hang_up(request: Request) -> None:
    """Returns when the caller closes the connection (``http.disconnect``).

    Call only once the body has been read: every later message is a disconnect, sent
    by the server when the connection closes (or, harmlessly, once the response is out).
    """
    while (await request.receive())["type"] != "http.disconnect":
        pass


class _Lane:
    """One lane's bounded queue: ``workers`` proving, ``max_queue`` waiting, per-caller counts."""

    def __init__(self, plan: LanePlan, max_per_caller: int) -> None:
        self.circuits = plan.circuits
        self.max_concurrent = plan.workers
        self.max_queue = plan.max_queue
        self.max_per_caller = max_per_caller
        self.running = 0
        self.waiting = 0
        self.per_caller: dict[str, int] = {}
        self.slots = asyncio.Semaphore(plan.workers)


class _Admission:
    """The miner's lanes (bounded queues in front of the prover) and its proving-time estimate.

    Every circuit belongs to one lane (``neurons.mining.lanes``); the queue rules of the
    module docstring (4 to 6) are counted in the request's lane alone, so work queued or
    proving in another lane never refuses or delays it. ``max_per_caller`` (None: each
    lane's worker count) caps one caller's requests per lane.
    ``probe_after_s``: an idle lane tries a request its estimate refuses once
    no proof of that circuit has started for this long (see :meth:`expected_seconds`).
    """

    def __init__(
        self,
        lanes: Sequence[LanePlan],
        max_per_caller: int | None,
        notify: Callable[[], None],
        *,
        probe_after_s: float = PROBE_AFTER_S,
    ) -> None:
        self.probe_after_s = probe_after_s
        self.lanes = tuple(
            _Lane(plan, plan.workers if max_per_caller is None else max_per_caller) for plan in lanes
        )
        self._lane_of = {c: lane for lane in self.lanes for c in lane.circuits}
        self._estimate: dict[str, float] = {}
        self._last_start: dict[str, float] = {}
        self._notify = notify

    @property
    def running(self) -> int:
        """Requests proving, over all lanes."""
        return sum(lane.running for lane in self.lanes)

    @property
    def waiting(self) -> int:
        """Requests waiting for a worker, over all lanes."""
        return sum(lane.waiting for lane in self.lanes)

    def expected_seconds(self, circuit_id: str) -> float | None:
        """Time until a request arriving now would be proved, pessimistically assuming
        running proofs of its lane just started; None means "try it" (rule 4 of the
        module docstring).

        None when there is no estimate for the circuit yet, and, on an idle lane, when
        no proof of the circuit has started for ``probe_after_s`` (a probe: one slow
        outlier must not lock the miner out of a circuit for good; the probe's time
        replaces the estimate if faster). Otherwise an idle lane expects one proof.
        """
        lane = self._lane_of[circuit_id]
        per_proof = self._estimate.get(circuit_id)
        if per_proof is None:
            return None
        if lane.running + lane.waiting == 0:
            last = self._last_start.get(circuit_id)
            if last is None or time.monotonic() - last >= self.probe_after_s:
                return None
            return per_proof
        rounds_ahead = lane.waiting // lane.max_concurrent
        if lane.running >= lane.max_concurrent:
            rounds_ahead += 1
        return per_proof * (rounds_ahead + 1)

    def started(self, circuit_id: str) -> None:
        """A proof of ``circuit_id`` starts now (the probe clock restarts)."""
        self._last_start[circuit_id] = time.monotonic()

    def record(self, circuit_id: str, seconds: float) -> None:
        """Fold one proving time in: slower proofs move the estimate up gradually,
        a faster one replaces it (a slow outlier must not keep refusing work)."""
        old = self._estimate.get(circuit_id)
        self._estimate[circuit_id] = (
            seconds
            if old is None or seconds <= old
            else (1 - _EWMA_WEIGHT) * old + _EWMA_WEIGHT * seconds
        )

    def record_abandoned(self, circuit_id: str, seconds: float) -> None:
        """A proof abandoned at its deadline after ``seconds``: it needs at least that
        long, so the estimate is raised to it (never lowered)."""
        self._estimate[circuit_id] = max(self._estimate.get(circuit_id, 0.0), seconds)

    @asynccontextmanager
    async def slot(self, caller: str, circuit_id: str, wait_s: float) -> AsyncIterator[float]:
        """Hold a worker slot of ``circuit_id``'s lane for ``caller``; yields seconds waited.
        503 if the caller already has ``max_per_caller`` requests in that lane or its
        queue is full, TimeoutError past ``wait_s``."""
        lane = self._lane_of[circuit_id]
        held = lane.per_caller.get(caller, 0)
        if held >= lane.max_per_caller:
            raise _Refused(
                ErrorCode.BUSY,
                f"this caller already has {held} requests proving or waiting for this circuit's lane",
            )
        if lane.running + lane.waiting >= lane.max_concurrent + lane.max_queue:
            raise _Refused(ErrorCode.BUSY, "this circuit's lane is full")
        lane.per_caller[caller] = held + 1
        try:
            async with self._slot(lane, wait_s) as waited:
                yield waited
        finally:
            left = lane.per_caller[caller] - 1
            if left:
                lane.per_caller[caller] = left
            else:
                del lane.per_caller[caller]

    @asynccontextmanager
    async def _slot(self, lane: _Lane, wait_s: float) -> AsyncIterator[float]:
        lane.waiting += 1
        self._notify()
        started = time.perf_counter()
        try:
            async with asyncio.timeout(max(wait_s, 0.0)):
                await lane.slots.acquire()
        finally:
            lane.waiting -= 1
        lane.running += 1
        self._notify()
        try:
            yield time.perf_counter() - started
        finally:
            lane.running -= 1
            lane.slots.release()
            self._notify()


def build_miner_app(
    *,
    wallet: bt.Wallet,
    prove: ProveFn,
    circuits: Iterable[str],
    metagraph: MetagraphSource,
    netuid: int,
    min_stake: float,
    max_queue: int,
    max_concurrent: int = 1,
    clock: Callable[[], float] = time.time,
    observer: MinerObserver | None = None,
    nonce_store: bt.http_auth.NonceStore | None = None,
    require_permit: bool = True,
    max_body_bytes: int = MAX_REQUEST_BYTES,
    circuit_names: Mapping[str, str] | None = None,
    body_timeout_s: float = BODY_TIMEOUT_S,
    max_per_caller: int | None = None,
    check_inputs: InputCheck | None = None,
    probe_after_s: float = PROBE_AFTER_S,
    lanes: Sequence[LanePlan] | None = None,
    pinned: Callable[[str], bool] | None = None,
) -> FastAPI:
    """The miner's ASGI app (see the module docstring for routes and status codes).

    ``circuit_names`` (id -> name) only makes the logs readable.
    ``body_timeout_s`` bounds the wait for a request body (408 past it).
    ``lanes`` split the served circuits among queues of their own (default:
    ``plan_lanes(circuits, workers=max_concurrent, max_queue=max_queue)``: one lane per
    circuit when there are enough workers); given, they must hold every served circuit
    exactly once, and ``max_concurrent``/``max_queue`` are ignored (the lanes' sums are
    announced). ``prove`` must then take up to the sum of the lanes' workers at once
    (a ``ProverPool`` with that many workers), or one lane's proof would wait for another's.
    ``max_per_caller`` (default: the lane's worker count) caps the requests one
    hotkey may have proving or waiting at once in one lane. ``check_inputs`` (none: the prover's own
    check alone decides) refuses inputs that do not fit a circuit before they are queued.
    ``probe_after_s`` is the idle miner's probe period (see :data:`PROBE_AFTER_S`).
    ``pinned`` (none: every served circuit) says, at each request, whether a served circuit may
    be proved now (the subnet owner's pin, ``neurons.shared.pins.PinWatcher.allows``): one it
    refuses is answered 404 ``unknown_circuit`` and left out of the capabilities.

    ``prove`` is cancelled when the request's deadline passes or its caller hangs up
    mid-proof; it must then stop the work (``ProverPool.prove`` kills the worker).

    ``wallet`` signs responses with its hotkey, which is also the receiver every
    request must be signed for. ``clock`` (unix seconds) drives deadlines,
    signature freshness and response nonces. Raises ``ValueError`` for a
    circuit id or queue size the protocol cannot announce.
    """
    if max_concurrent < 1 or max_queue < 0 or (max_per_caller is not None and max_per_caller < 1):
        raise ValueError("max_concurrent and max_per_caller must be >= 1 and max_queue >= 0")
    served = frozenset(circuits)
    names = dict(circuit_names or {})
    if lanes is None:
        lanes = plan_lanes(served, workers=max_concurrent, max_queue=max_queue)
    lanes = tuple(lanes)
    in_lanes = [c for lane in lanes for c in lane.circuits]
    if len(in_lanes) != len(set(in_lanes)) or set(in_lanes) != served:
        raise ValueError("lanes must hold every served circuit exactly once")
    if any(lane.workers < 1 or lane.max_queue < 0 for lane in lanes):
        raise ValueError("every lane needs workers >= 1 and max_queue >= 0")
    try:
        capabilities = Capabilities(
            circuits=tuple(sorted(served)),
            max_concurrent=sum(lane.workers for lane in lanes) or max_concurrent,
            max_queue=sum(lane.max_queue for lane in lanes) if lanes else max_queue,
            lanes=tuple(
                Lane(circuits=lane.circuits, max_concurrent=lane.workers, max_queue=lane.max_queue)
                for lane in lanes
            ),
        )
    except ValidationError as exc:
        raise ValueError(f"cannot announce these capabilities: {exc}") from None

    signer = bt.resolve_signer(wallet, role="hotkey")
    guard = RequestGuard(
        hotkey=signer.ss58_address,
        policy=CallerPolicy(netuid=netuid, min_stake=min_stake, require_permit=require_permit),
        metagraph=metagraph,
        nonce_store=nonce_store,
        clock=clock,
        max_body_bytes=max_body_bytes,
        body_timeout=body_timeout_s,
    )
    nonces = NonceClock(clock)
    hooks = _SafeObserver(observer)
    admission = _Admission(
        lanes,
        max_per_caller,
        lambda: hooks.queue_depth(admission.running, admission.waiting),
        probe_after_s=probe_after_s,
    )

    def respond(route: str, message: BaseModel, *, to: Admitted | None = None) -> Response:
        """``message`` as the answer; signed for ``to`` (an admitted caller) if given, bound to
        the nonce the guard verified."""
        status = message.code.http_status if isinstance(message, ErrorResponse) else 200
        body = encode(message)
        headers = {}
        if to is not None:
            headers = sign_response(
                signer,
                route=route,
                request_nonce=to.nonce,
                body=body,
                receiver=to.hotkey,
                nonce_ns=nonces(),
            )
        outcome = message.code.value if isinstance(message, ErrorResponse) else "ok"
        hooks.request_finished(route if route in _ROUTES else "other", outcome, status)
        return Response(body, status_code=status, headers=headers, media_type="application/json")

    def refuse(route: str, code: ErrorCode, message: str, *, to: Admitted | None = None) -> Response:
        return respond(route, ErrorResponse(code=code, message=message[:500]), to=to)

    async def capabilities_route(request: Request) -> Response:
        try:
            admitted = await guard.admit(request)
        except GuardRejected as exc:
            return refuse(ROUTE_CAPABILITIES, exc.code, str(exc))
        return respond(ROUTE_CAPABILITIES, _pinned_capabilities(capabilities, pinned), to=admitted)

    async def prove_route(request: Request) -> Response:
        try:
            admitted = await guard.admit(request)
        except GuardRejected as exc:
            return refuse(ROUTE_PROVE, exc.code, str(exc))
        try:
            # The log names the caller as operators read the metagraph: uid, then hotkey.
            caller = f"uid {admitted.neuron.uid} {admitted.hotkey[:10]}"
            response = await _serve_proof(admitted.body, admitted.hotkey, caller, request)
        except _Refused as exc:
            return refuse(ROUTE_PROVE, exc.code, str(exc), to=admitted)
        except _HungUp:
            hooks.request_finished(ROUTE_PROVE, "disconnected", _DISCONNECTED)
            return Response(status_code=_DISCONNECTED)  # the server drops it: the socket is gone
        return respond(ROUTE_PROVE, response, to=admitted)

    async def _serve_proof(body: bytes, hotkey: str, caller: str, request: Request) -> ProofResponse:
        try:
            req = decode(ProofRequest, body, max_bytes=max_body_bytes)
        except ProtocolError as exc:  # the guard already capped the size: this is shape
            raise _Refused(ErrorCode.INVALID_REQUEST, str(exc)) from None
        if req.protocol_version != PROTOCOL_VERSION:
            raise _Refused(
                ErrorCode.UNSUPPORTED_VERSION,
                f"protocol version {req.protocol_version}, this miner speaks {PROTOCOL_VERSION}",
            )
        if req.circuit_id not in served:
            raise _Refused(ErrorCode.UNKNOWN_CIRCUIT, f"circuit {req.circuit_id} is not served here")
        if pinned is not None and not pinned(req.circuit_id):
            raise _Refused(
                ErrorCode.UNKNOWN_CIRCUIT,
                f"circuit {req.circuit_id} is not in the subnet owner's pin: not served here",
            )
        if check_inputs is not None:
            try:
                check_inputs(req.circuit_id, req.inputs)
            except ValueError as exc:
                raise _Refused(ErrorCode.INVALID_INPUTS, str(exc)) from None
        remaining = req.deadline - clock()
        if remaining <= 0:
            raise _Refused(ErrorCode.DEADLINE_EXCEEDED, "deadline has already passed")
        if remaining > MAX_DEADLINE_S:
            raise _Refused(
                ErrorCode.INVALID_REQUEST,
                f"deadline is {remaining:.0f}s away, at most {MAX_DEADLINE_S}s allowed",
            )
        expected = admission.expected_seconds(req.circuit_id)
        if expected is not None and expected > remaining:
            raise _Refused(
                ErrorCode.BUSY,
                f"deadline cannot be met: about {expected:.1f}s needed, {remaining:.1f}s left",
            )
        try:
            async with admission.slot(hotkey, req.circuit_id, remaining) as queue_s:
                left = req.deadline - clock()
                if left <= 0:
                    raise _Refused(ErrorCode.DEADLINE_EXCEEDED, "deadline passed while queued")
                return await _prove_in_time(req, caller, queue_s, left, request)
        except TimeoutError:
            raise _Refused(ErrorCode.DEADLINE_EXCEEDED, "deadline passed while queued") from None

    async def _prove_in_time(
        req: ProofRequest, caller: str, queue_s: float, left: float, request: Request
    ) -> ProofResponse:
        """``_prove`` unless the deadline passes (408) or the caller hangs up (``_HungUp``)
        first: then the proof is cancelled, which stops its worker, before the slot is freed."""
        admission.started(req.circuit_id)
        started = time.perf_counter()
        proving = asyncio.ensure_future(_prove(req, caller, queue_s, started))
        hung_up = asyncio.ensure_future(_hang_up(request))
        try:
            await asyncio.wait({proving, hung_up}, timeout=left, return_when=asyncio.FIRST_COMPLETED)
        finally:
            hung_up.cancel()
            finished = proving.done()
            if not finished:
                proving.cancel()  # also when this request is itself cancelled (server stopping)
        if finished:
            return proving.result()  # its answer, or its _Refused, as is
        # Waits for the cancellation to land (the worker is killed by then) without taking
        # proving's CancelledError for this request's own.
        await asyncio.wait({proving})
        elapsed = time.perf_counter() - started
        hooks.prove_finished(req.circuit_id, elapsed, False)
        name = names.get(req.circuit_id, req.circuit_id[:12])
        if hung_up.done() and not hung_up.cancelled():
            hung_up.exception()  # a receive that failed is a broken connection: a hang-up too
            log.info("%s hung up after %.1fs: abandoned proving %s", caller, elapsed, name)
            raise _HungUp()
        admission.record_abandoned(req.circuit_id, elapsed)
        log.warning("deadline passed proving %s for %s after %.1fs: abandoned", name, caller, elapsed)
        raise _Refused(
            ErrorCode.DEADLINE_EXCEEDED,
            f"deadline passed while proving ({elapsed:.1f}s): the proof was abandoned",
        )

    async def _prove(req: ProofRequest, caller: str, queue_s: float, started: float) -> ProofResponse:
        try:
            result = await prove(req.circuit_id, req.inputs)
        except InvalidInputs as exc:  # the caller's mistake, found by the prover: not ours
            hooks.prove_finished(req.circuit_id, time.perf_counter() - started, False)
            raise _Refused(ErrorCode.INVALID_INPUTS, str(exc)) from None
        except ExecutionError as exc:
            hooks.prove_finished(req.circuit_id, time.perf_counter() - started, False)
            log.warning("proving %s for %s failed: %s", names.get(req.circuit_id, req.circuit_id[:12]), caller, exc)
            raise _Refused(ErrorCode.PROVING_FAILED, f"{type(exc).__name__}: {exc}") from None
        except Exception as exc:  # the task boundary of one request: log, answer, keep serving
            hooks.prove_finished(req.circuit_id, time.perf_counter() - started, False)
            log.exception("prover raised on %s for %s", names.get(req.circuit_id, req.circuit_id[:12]), caller)
            raise _Refused(ErrorCode.INTERNAL, f"prover raised {type(exc).__name__}") from None
        prove_s = time.perf_counter() - started
        hooks.prove_finished(req.circuit_id, prove_s, True)
        log.info(
            "proved %s for %s: queue %.3fs, prove %.3fs",
            names.get(req.circuit_id, req.circuit_id[:12]), caller, queue_s, prove_s,
        )
        admission.record(req.circuit_id, prove_s)
        if result.proof.circuit_id != req.circuit_id:
            raise _Refused(ErrorCode.INTERNAL, "prover answered for another circuit")
        try:
            return proof_response(
                result, request_id=req.request_id, queue_s=queue_s, prove_s=prove_s
            )
        except ValidationError as exc:
            log.error("proof breaks protocol limits: circuit=%s: %s", req.circuit_id, exc)
            raise _Refused(ErrorCode.INTERNAL, "proof does not fit the protocol limits") from None

    async def http_error(request: Request, exc: Exception) -> Response:
        status = getattr(exc, "status_code", 500)
        code = {404: ErrorCode.NOT_FOUND, 405: ErrorCode.METHOD_NOT_ALLOWED}.get(
            status, ErrorCode.INTERNAL
        )
        # A fixed text: an unauthenticated answer echoes nothing the caller sent.
        return refuse(request.url.path, code, _ROUTES_TEXT)

    async def unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error on %s", request.url.path, exc_info=exc)
        return refuse(request.url.path, ErrorCode.INTERNAL, "internal error")

    # redirect_slashes=False: starlette would answer ``/v1/prove/`` with a 307 whose Location
    # is built from the Host header, unauthenticated; a miner never redirects.
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None, redirect_slashes=False)
    app.add_api_route(ROUTE_PROVE, prove_route, methods=["POST"])
    app.add_api_route(ROUTE_CAPABILITIES, capabilities_route, methods=["GET", "POST"])
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(Exception, unexpected)
    return app


def _pinned_capabilities(capabilities: Capabilities, pinned: Callable[[str], bool] | None) -> Capabilities:
    """``capabilities`` without the circuits ``pinned`` refuses now (lanes left empty dropped)."""
    if pinned is None or all(pinned(c) for c in capabilities.circuits):
        return capabilities
    lanes = [lane.model_copy(update={"circuits": tuple(c for c in lane.circuits if pinned(c))})
             for lane in capabilities.lanes]
    lanes = [lane for lane in lanes if lane.circuits]
    return Capabilities(
        circuits=tuple(c for c in capabilities.circuits if pinned(c)),
        max_concurrent=sum(lane.max_concurrent for lane in lanes) or capabilities.max_concurrent,
        max_queue=sum(lane.max_queue for lane in lanes),
        lanes=tuple(lanes),
    )


class _SafeObserver:
    """Forwards to the observer, if any; an observer bug is logged, never served."""

    def __init__(self, observer: MinerObserver | None) -> None:
        self._observer = observer

    def _call(self, name: str, hook: Callable[[MinerObserver], None]) -> None:
        if self._observer is None:
            return
        try:
            hook(self._observer)
        except Exception:
            log.exception("metrics observer %s failed", name)

    def request_finished(self, route: str, outcome: str, status: int) -> None:
        self._call("request_finished", lambda o: o.request_finished(route, outcome, status))

    def prove_finished(self, circuit_id: str, seconds: float, ok: bool) -> None:
        self._call("prove_finished", lambda o: o.prove_finished(circuit_id, seconds, ok))

    def queue_depth(self, running: int, waiting: int) -> None:
        self._call("queue_depth", lambda o: o.queue_depth(running, waiting))
