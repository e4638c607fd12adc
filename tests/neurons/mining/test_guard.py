"""neurons.mining.guard: the server-side guard (size, signature, policy); response signatures.

The guard is driven through a minimal app over ``httpx.ASGITransport`` with real
wallets and real ``btauth/1`` signatures.
"""

from __future__ import annotations

import asyncio
import time

import bittensor as bt
import httpx
import pytest
from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import JSONResponse

from neurons.mining.guard import (
    BodyTooLarge,
    CallerPolicy,
    Forbidden,
    GuardRejected,
    PolicyUnavailable,
    RequestGuard,
    claimed_hotkey,
    claimed_nonce,
    sign_response,
)
from neurons.shared.nonces import NonceClock
from neurons.validating.signing import ResponseUntrusted, verify_response
from tests.support.cast import MIN_STAKE, NETUID
from tests.support.chain import metagraph_of, neuron
from tests.support.wallets import hotkey_of

pytestmark = pytest.mark.anyio

PATH = "/echo"


class Guarded:
    """A one-route app whose handler answers 200 only after the guard admits."""

    def __init__(self, cast, *, metagraph=None, max_body_bytes=1024, clock=time.time, **guard):
        self.handled: list[bytes] = []
        self.guard = RequestGuard(
            hotkey=hotkey_of(cast.miner),
            policy=CallerPolicy(netuid=NETUID, min_stake=MIN_STAKE),
            metagraph=metagraph or cast.metagraph,
            clock=clock,
            max_body_bytes=max_body_bytes,
            **guard,
        )
        self.app = app = FastAPI()

        async def echo(request: Request):
            try:
                admitted = await self.guard.admit(request)
            except GuardRejected as exc:
                return JSONResponse({"code": exc.code.value}, status_code=exc.code.http_status)
            self.handled.append(admitted.body)
            return JSONResponse({"uid": admitted.neuron.uid})

        app.add_api_route(PATH, echo, methods=["POST"])
        self.client = httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://m")

    async def post(self, body: bytes, headers: dict[str, str], path: str = PATH) -> httpx.Response:
        return await self.client.post(path, content=body, headers=headers)


def signed(wallet, receiver, body=b"{}", *, path=PATH, nonce_ns=None):
    return bt.http_auth.sign(
        wallet, method="POST", path=path, body=body, receiver_ss58=receiver, nonce_ns=nonce_ns
    )


async def test_registered_validator_is_admitted(cast):
    app = Guarded(cast)
    resp = await app.post(b"{}", signed(cast.validator, hotkey_of(cast.miner)))
    assert resp.status_code == 200 and resp.json() == {"uid": 1}
    assert app.handled == [b"{}"]


async def test_query_string_is_part_of_the_signed_target(cast):
    app = Guarded(cast)
    headers = signed(cast.validator, hotkey_of(cast.miner), path=PATH + "?x=1")
    assert (await app.post(b"{}", headers, path=PATH + "?x=1")).status_code == 200
    headers = signed(cast.validator, hotkey_of(cast.miner), path=PATH)
    assert (await app.post(b"{}", headers, path=PATH + "?x=1")).status_code == 401


async def test_the_signature_covers_the_target_as_sent_not_as_decoded(cast):
    """A percent-encoded target (``/ech%6F`` routes to ``/echo``) is checked byte for byte:
    signed as sent it is admitted; a signature over the decoded path does not carry over."""
    app = Guarded(cast)
    encoded = "/ech%6F"
    headers = signed(cast.validator, hotkey_of(cast.miner), path=encoded)
    assert (await app.post(b"{}", headers, path=encoded)).status_code == 200
    headers = signed(cast.validator, hotkey_of(cast.miner), path=PATH)
    assert (await app.post(b"{}", headers, path=encoded)).status_code == 401
    assert len(app.handled) == 1


async def test_a_server_that_gives_no_raw_path_is_checked_on_the_path(cast):
    """``raw_path`` is optional in ASGI (some adapters send None): the guard falls back to
    ``path`` instead of failing."""
    app = Guarded(cast)
    done = False

    async def receive():
        nonlocal done
        if done:
            await asyncio.Event().wait()
        done = True
        return {"type": "http.request", "body": b"{}", "more_body": False}

    headers = signed(cast.validator, hotkey_of(cast.miner))
    assert await _call_asgi(app.app, _scope(headers, raw_path=None), receive) == 200
    assert app.handled == [b"{}"]


def _unsigned(cast):
    return {}


def _malformed(cast):
    h = signed(cast.validator, hotkey_of(cast.miner))
    h["X-Bittensor-Nonce"] = "yesterday"
    return h


def _wrong_receiver(cast):
    return signed(cast.validator, hotkey_of(cast.stranger))


def _no_receiver(cast):
    return bt.http_auth.sign(cast.validator, method="POST", path=PATH, body=b"{}")


def _stale(cast):
    return signed(cast.validator, hotkey_of(cast.miner), nonce_ns=time.time_ns() - 60 * 10**9)


def _future(cast):
    return signed(cast.validator, hotkey_of(cast.miner), nonce_ns=time.time_ns() + 60 * 10**9)


def _bad_signature(cast):
    h = signed(cast.validator, hotkey_of(cast.miner))
    sig = bytearray(bytes.fromhex(h["X-Bittensor-Signature"][2:]))
    sig[0] ^= 1
    h["X-Bittensor-Signature"] = "0x" + sig.hex()
    return h


def _other_body(cast):
    return signed(cast.validator, hotkey_of(cast.miner), body=b'{"other": 1}')


def _impersonation(cast):
    """Signed by the stranger but claiming the validator's hotkey."""
    h = signed(cast.stranger, hotkey_of(cast.miner))
    h["X-Bittensor-Hotkey"] = hotkey_of(cast.validator)
    return h


@pytest.mark.parametrize(
    "make_headers",
    [_unsigned, _malformed, _wrong_receiver, _no_receiver, _stale, _future, _bad_signature,
     _other_body, _impersonation],
)
async def test_bad_signatures_are_401_before_any_work(cast, make_headers):
    app = Guarded(cast)
    resp = await app.post(b"{}", make_headers(cast))
    assert resp.status_code == 401 and resp.json() == {"code": "unauthenticated"}
    assert app.handled == []


async def test_replayed_nonce_is_401(cast):
    app = Guarded(cast)
    headers = signed(cast.validator, hotkey_of(cast.miner))
    assert (await app.post(b"{}", headers)).status_code == 200
    assert (await app.post(b"{}", headers)).status_code == 401
    assert len(app.handled) == 1


async def test_each_app_has_its_own_nonce_store(cast):
    """A nonce accepted by one guard does not poison another (e.g. another miner)."""
    first, second = Guarded(cast), Guarded(cast)
    headers = signed(cast.validator, hotkey_of(cast.miner))
    assert (await first.post(b"{}", headers)).status_code == 200
    assert (await second.post(b"{}", headers)).status_code == 200


async def test_a_request_signed_before_a_restart_cannot_be_replayed_after_it(cast):
    """Tried: a rival captures a permitted validator's signed request, the miner restarts (a new
    guard, an empty in-memory nonce store), and the rival replays the capture inside the 10 s
    freshness window. Must hold: 401 naming the restart, and the handler never runs; a request
    signed after the restart is served."""
    now = [NOW]
    before = Guarded(cast, clock=lambda: now[0])
    captured = signed(cast.validator, hotkey_of(cast.miner), nonce_ns=int(NOW * 1e9))
    assert (await before.post(b"{}", captured)).status_code == 200
    now[0] = NOW + 3.0  # the miner restarts 3 s later: the capture is still fresh
    after = Guarded(cast, clock=lambda: now[0])
    replay = await after.post(b"{}", captured)
    assert replay.status_code == 401 and replay.json()["code"] == "unauthenticated"
    assert after.handled == []
    fresh = signed(cast.validator, hotkey_of(cast.miner), nonce_ns=int((NOW + 3.5) * 1e9))
    assert (await after.post(b"{}", fresh)).status_code == 200


@pytest.mark.parametrize("who", ["stranger", "no_permit", "poor"])
async def test_policy_refusals_are_403_before_any_work(cast, who):
    app = Guarded(cast)
    resp = await app.post(b"{}", signed(getattr(cast, who), hotkey_of(cast.miner)))
    assert resp.status_code == 403 and resp.json() == {"code": "forbidden"}
    assert app.handled == []


async def test_oversized_body_is_413_even_when_unsigned(cast):
    app = Guarded(cast, max_body_bytes=10)
    resp = await app.post(b"x" * 11, {})
    assert resp.status_code == 413 and app.handled == []


async def test_body_over_limit_without_content_length_is_413(cast):
    """A chunked body with no Content-Length is cut off while streaming."""
    app = Guarded(cast, max_body_bytes=10)

    async def chunks():
        for _ in range(100):
            yield b"xxxx"

    headers = signed(cast.validator, hotkey_of(cast.miner))  # a permitted caller gets this far
    resp = await app.client.post(PATH, content=chunks(), headers=headers)
    assert resp.status_code == 413 and app.handled == []


async def test_a_body_of_exactly_the_byte_limit_is_admitted_declared_or_streamed(cast):
    """The limit is inclusive, with a ``Content-Length`` and for a chunked body without one."""
    app = Guarded(cast, max_body_bytes=10)
    body = b'{"a":"12"}'
    assert len(body) == 10
    headers = signed(cast.validator, hotkey_of(cast.miner), body=body)
    assert (await app.post(body, headers)).status_code == 200

    async def chunks():
        yield body[:4]
        yield body[4:]

    headers = signed(cast.validator, hotkey_of(cast.miner), body=body)
    assert (await app.client.post(PATH, content=chunks(), headers=headers)).status_code == 200
    assert app.handled == [body, body]


async def test_metagraph_failure_fails_closed_with_503(cast):
    def broken():
        raise RuntimeError("chain down")

    app = Guarded(cast, metagraph=broken)
    resp = await app.post(b"{}", signed(cast.validator, hotkey_of(cast.miner)))
    assert resp.status_code == 503 and app.handled == []


async def test_async_metagraph_source_is_awaited(cast):
    async def source():
        return cast.metagraph()

    app = Guarded(cast, metagraph=source)
    assert (await app.post(b"{}", signed(cast.validator, hotkey_of(cast.miner)))).status_code == 200


async def test_injected_clock_drives_freshness(cast):
    """With the server clock an hour ahead, a request signed now is stale."""
    app = Guarded(cast, clock=lambda: time.time() + 3600)
    assert (await app.post(b"{}", signed(cast.validator, hotkey_of(cast.miner)))).status_code == 401


NOW = 1_700_000_000.0  # a fixed server clock, unix seconds


@pytest.mark.parametrize(
    "age_s, status",
    [(9.5, 200), (10.5, 401), (-1.5, 200), (-2.5, 401)],
    ids=["just-fresh", "just-stale", "slightly-ahead", "too-far-ahead"],
)
async def test_the_default_freshness_window_is_measured_on_the_injected_clock(cast, age_s, status):
    """Signed at most 10 s before the server's clock, or 2 s after it, to the nanosecond
    (the server started a minute before, so no request here predates it)."""
    now = [NOW - 60]
    app = Guarded(cast, clock=lambda: now[0])
    now[0] = NOW
    nonce_ns = int(NOW * 1e9) - int(age_s * 1e9)
    headers = signed(cast.validator, hotkey_of(cast.miner), nonce_ns=nonce_ns)
    assert (await app.post(b"{}", headers)).status_code == status


@pytest.mark.parametrize(
    "max_age, allowed_skew, age_s",
    [(100.0, 2.0, 90.0), (40.0, 30.0, -25.0)],
    ids=["long-max-age", "wide-skew"],
)
async def test_a_wider_freshness_window_admits_inside_it_and_still_refuses_replays(
    cast, max_age, allowed_skew, age_s
):
    """``max_age``/``allowed_skew`` reach the signature check, and the default nonce store
    keeps nonces for the whole window (the SDK refuses a store too short for it)."""
    # started 200 s ago: the server has run longer than any window here
    app = Guarded(cast, max_age=max_age, allowed_skew=allowed_skew, started=time.time() - 200)
    nonce_ns = time.time_ns() - int(age_s * 1e9)
    headers = signed(cast.validator, hotkey_of(cast.miner), nonce_ns=nonce_ns)
    assert (await app.post(b"{}", headers)).status_code == 200
    assert (await app.post(b"{}", headers)).status_code == 401


class RecordingNonces:
    """A nonce store that remembers who reached it."""

    retention = 60.0

    def __init__(self):
        self.seen: list[str] = []

    def check_and_store(self, hotkey_ss58: str, nonce_ns: int) -> bool:
        self.seen.append(hotkey_ss58)
        return True


async def call_with_stalled_body(app, headers: dict[str, str]) -> tuple[int | None, int]:
    """Drive ``app`` directly over ASGI with a body that never arrives.

    Returns (status sent, times the app asked for the body). A guard that
    waits for the body without a time limit never returns: bounded at 5 s.
    """
    asked = 0

    async def receive():
        nonlocal asked
        asked += 1
        await asyncio.Event().wait()  # the sender stalls forever

    return await _call_asgi(app, _scope(headers), receive), asked


def _scope(headers: dict[str, str], **fields) -> dict:
    """An HTTP scope for ``POST PATH`` as an ASGI server would build it, ``fields`` overriding."""
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
        "scheme": "http", "path": PATH, "raw_path": PATH.encode(), "query_string": b"",
        "root_path": "", "server": ("m", 80), "client": ("127.0.0.1", 1),
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
    }
    return {**scope, **fields}


async def _call_asgi(app, scope: dict, receive) -> int | None:
    """Drive ``app`` over ASGI (bounded at 5 s); the status it answered, if any."""
    sent: list[dict] = []

    async def send(message):
        sent.append(message)

    async with asyncio.timeout(5):
        await app(scope, receive, send)
    starts = [m["status"] for m in sent if m["type"] == "http.response.start"]
    return starts[0] if starts else None


async def test_a_body_that_never_arrives_is_408_after_the_body_timeout(cast):
    """Slowloris: a permitted caller's headers, then nothing: refused in bounded time."""
    app = Guarded(cast, body_timeout=0.2)
    status, asked = await call_with_stalled_body(app.app, signed(cast.validator, hotkey_of(cast.miner)))
    assert status == 408 and asked >= 1 and app.handled == []


@pytest.mark.parametrize("who", ["stranger", "no_permit", "poor"])
async def test_refused_claimed_hotkeys_cost_no_body_read_signature_or_nonce(cast, who):
    """The claimed hotkey is checked first: a caller the policy refuses is 403 before
    its body is read, its signature checked, or its nonce stored."""
    nonces = RecordingNonces()
    app = Guarded(cast, nonce_store=nonces)
    status, asked = await call_with_stalled_body(
        app.app, signed(getattr(cast, who), hotkey_of(cast.miner))
    )
    assert (status, asked) == (403, 0)
    assert nonces.seen == []


async def test_no_claimed_hotkey_is_401_before_the_body_is_read(cast):
    app = Guarded(cast)
    assert await call_with_stalled_body(app.app, {}) == (401, 0)


@pytest.mark.parametrize(
    "claim, status", [("", 401), ("5" * 65, 401), ("5" * 64, 403)], ids=["empty", "65-chars", "64-chars"]
)
async def test_an_empty_or_overlong_claimed_hotkey_is_401_before_the_body_is_read(cast, claim, status):
    """Up to 64 characters a claim goes to the policy (403 for an unknown hotkey); longer or
    empty is malformed (401). Neither reads the body."""
    headers = signed(cast.validator, hotkey_of(cast.miner))
    headers["X-Bittensor-Hotkey"] = claim
    assert await call_with_stalled_body(Guarded(cast).app, headers) == (status, 0)


async def test_a_permitted_caller_without_a_nonce_header_is_401(cast):
    app = Guarded(cast)
    headers = signed(cast.validator, hotkey_of(cast.miner))
    del headers["X-Bittensor-Nonce"]
    resp = await app.post(b"{}", headers)
    assert resp.status_code == 401 and resp.json() == {"code": "unauthenticated"}
    assert app.handled == []


async def test_a_permitted_callers_signature_reaches_the_nonce_store(cast):
    nonces = RecordingNonces()
    app = Guarded(cast, nonce_store=nonces)
    assert (await app.post(b"{}", signed(cast.validator, hotkey_of(cast.miner)))).status_code == 200
    assert nonces.seen == [hotkey_of(cast.validator)]


def test_policy_checks_registration_permit_stake_in_order():
    policy = CallerPolicy(netuid=NETUID, min_stake=10.0)
    view = metagraph_of(NETUID, [neuron(1, "hk-ok", stake=10.0), neuron(2, "hk-np", permit=False, stake=0.0)])
    assert policy.check("hk-ok", view).uid == 1
    with pytest.raises(Forbidden, match="not registered"):
        policy.check("hk-none", view)
    with pytest.raises(Forbidden, match="permit"):
        policy.check("hk-np", view)
    with pytest.raises(Forbidden, match="stake"):
        CallerPolicy(netuid=NETUID, min_stake=11.0).check("hk-ok", view)
    assert CallerPolicy(netuid=NETUID, min_stake=0.0, require_permit=False).check("hk-np", view).uid == 2
    with pytest.raises(PolicyUnavailable):
        policy.check("hk-ok", metagraph_of(NETUID + 1, []))


def test_guard_errors_carry_their_wire_codes():
    assert BodyTooLarge.code.http_status == 413
    assert Forbidden.code.http_status == 403
    assert PolicyUnavailable.code.http_status == 503


def test_nonce_clock_is_strictly_increasing_on_a_frozen_clock():
    nonces = NonceClock(lambda: 1000.0)
    values = [nonces() for _ in range(5)]
    assert values == sorted(set(values)) and values[0] == 1000 * 10**9


def _response(cast, body=b'{"ok":true}', nonce=42, route="/v1/prove", signer=None):
    return sign_response(
        signer or cast.miner, route=route, request_nonce=str(nonce), body=body,
        receiver=hotkey_of(cast.validator), nonce_ns=time.time_ns(),
    )


def _verify(cast, headers, body=b'{"ok":true}', nonce=42, route="/v1/prove"):
    verify_response(
        headers, body, route=route, request_nonce=nonce, self_hotkey=hotkey_of(cast.validator),
        expected_hotkey=hotkey_of(cast.miner), now_ns=time.time_ns(), max_age=10,
    )


def test_response_signature_accepts_the_genuine_answer(cast):
    _verify(cast, _response(cast))


@pytest.mark.parametrize(
    "change",
    ["body", "nonce", "route", "signer"],
)
def test_response_signature_rejects_any_change(cast, change):
    """Tampered body, an answer to another request or route, or another signer are refused."""
    headers = _response(cast, signer=cast.stranger if change == "signer" else None)
    with pytest.raises(ResponseUntrusted):
        _verify(
            cast,
            headers,
            body=b'{"ok":false}' if change == "body" else b'{"ok":true}',
            nonce=43 if change == "nonce" else 42,
            route="/v1/capabilities" if change == "route" else "/v1/prove",
        )


@pytest.mark.parametrize(
    "read, name", [(claimed_hotkey, "X-Bittensor-Hotkey"), (claimed_nonce, "X-Bittensor-Nonce")]
)
def test_claimed_headers_are_echoed_up_to_64_chars_from_any_mapping(read, name):
    """Read as sent or lower-cased (a plain dict is case-sensitive); empty, absent or longer
    than 64 characters is no claim, so nothing unbounded is echoed into a signature."""
    value = "1" * 64
    assert read({name: value}) == value
    assert read({name.lower(): value}) == value
    assert read({name: value + "1"}) is None
    assert read({name: ""}) is None
    assert read({}) is None


def test_response_signature_carries_the_nonce_it_is_given(cast):
    """The app passes its ``NonceClock``: the injected clock, not the wall clock, dates answers."""
    headers = sign_response(
        cast.miner, route="/v1/prove", request_nonce="42", body=b"{}",
        receiver=hotkey_of(cast.validator), nonce_ns=123_456_789,
    )
    assert headers["X-Bittensor-Nonce"] == "123456789"
