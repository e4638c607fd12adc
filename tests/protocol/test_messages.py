"""The wire messages: what they accept, what they refuse, and their conversions."""

from __future__ import annotations

import base64
import json

import pytest

import protocol
from neurons.shared.proofs import proof_response
from protocol import (
    MAX_FELTS,
    MAX_INPUTS,
    MAX_PROOF_BYTES,
    PROTOCOL_VERSION,
    Capabilities,
    ErrorCode,
    ErrorResponse,
    InvalidMessage,
    Lane,
    MessageTooLarge,
    ProofRequest,
    ProofResponse,
    decode,
    encode,
)
from tests.support.provers import CIRCUIT_A, CIRCUIT_B, fake_result

REQ_ID = "0123456789abcdef0123456789abcdef"


def request_json(**overrides: object) -> bytes:
    body = {
        "protocol_version": PROTOCOL_VERSION,
        "request_id": REQ_ID,
        "circuit_id": CIRCUIT_A,
        "inputs": [0.5, 1, -2.25],
        "deadline": 1_800_000_000.5,
    }
    body.update(overrides)
    return json.dumps(body).encode()


def response_message() -> ProofResponse:
    return proof_response(
        fake_result(CIRCUIT_A, (1.0, 2.0)), request_id=REQ_ID, queue_s=0.1
    )


def test_public_names_are_exported_and_exist():
    """__all__ lists exactly what the package offers, and every name resolves."""
    for name in protocol.__all__:
        assert hasattr(protocol, name), name
    assert len(set(protocol.__all__)) == len(protocol.__all__)


def test_request_round_trips_and_ints_are_floats():
    req = decode(ProofRequest, request_json(), max_bytes=10_000)
    assert req.inputs == (0.5, 1.0, -2.25)
    assert decode(ProofRequest, encode(req), max_bytes=10_000) == req


@pytest.mark.parametrize(
    "overrides, field",
    [
        ({"inputs": []}, "inputs"),
        ({"inputs": [0.0] * (MAX_INPUTS + 1)}, "inputs"),
        ({"inputs": ["1.0"]}, "inputs"),
        ({"inputs": [True]}, "inputs"),
        ({"inputs": [[1.0]]}, "inputs"),
        ({"circuit_id": "A" * 64}, "circuit_id"),
        ({"circuit_id": "a" * 63}, "circuit_id"),
        ({"request_id": "not-hex-at-all!!"}, "request_id"),
        ({"request_id": "ab"}, "request_id"),
        ({"request_id": "a" * 65}, "request_id"),
        ({"deadline": "soon"}, "deadline"),
        ({"deadline": -1}, "deadline"),
        ({"protocol_version": "1"}, "protocol_version"),
        ({"protocol_version": 1.0}, "protocol_version"),
        ({"extra": 1}, "extra"),
    ],
)
def test_request_refuses_bad_fields(overrides, field):
    """Each broken field is refused and named in the message."""
    with pytest.raises(InvalidMessage, match=field):
        decode(ProofRequest, request_json(**overrides), max_bytes=1_000_000)


@pytest.mark.parametrize("token", ["NaN", "Infinity", "-Infinity", "1e400"])
def test_request_refuses_non_finite_inputs(token):
    body = request_json().replace(b"[0.5, 1, -2.25]", f"[0.5, {token}]".encode())
    with pytest.raises(InvalidMessage, match="inputs"):
        decode(ProofRequest, body, max_bytes=10_000)


def test_request_refuses_non_json_and_non_objects():
    for body in (b"", b"not json", b"[]", b"null", b'{"a": '):
        with pytest.raises(InvalidMessage):
            decode(ProofRequest, body, max_bytes=10_000)


def test_size_limit_is_checked_before_parsing():
    """An oversized body is refused as too large even when it is not JSON at all."""
    with pytest.raises(MessageTooLarge):
        decode(ProofRequest, b"x" * 101, max_bytes=100)


def test_response_round_trips_with_base64_proof():
    resp = response_message()
    wire = json.loads(encode(resp))
    assert base64.b64decode(wire["proof"], validate=True) == resp.proof
    assert "\n" not in wire["proof"]
    assert decode(ProofResponse, encode(resp), max_bytes=1_000_000) == resp


def _response_json(**overrides: object) -> bytes:
    body = json.loads(encode(response_message()))
    body.update(overrides)
    return json.dumps(body).encode()


@pytest.mark.parametrize(
    "overrides, field",
    [
        ({"proof": "not base64!"}, "proof"),
        ({"proof": "QUJD\nREVG"}, "proof"),
        ({"proof": ""}, "proof"),
        ({"proof": base64.b64encode(b"x" * (MAX_PROOF_BYTES + 1)).decode()}, "proof"),
        ({"instances": [["0x" + "0" * 62]]}, "instances"),
        ({"instances": [["0" * 63]]}, "instances"),
        ({"instances": []}, "instances"),
        ({"instances": [["0" * 64] * (MAX_FELTS // 2 + 1)] * 2}, "field elements"),
        ({"outputs": [float("nan")]}, "outputs"),
        ({"queue_s": -1.0}, "queue_s"),
        ({"signature": "x"}, "signature"),
    ],
)
def test_response_refuses_bad_fields(overrides, field):
    with pytest.raises(InvalidMessage, match=field):
        decode(ProofResponse, _response_json(**overrides), max_bytes=10_000_000)


def test_capabilities_validate_ids_and_uniqueness():
    caps = Capabilities(
        circuits=(CIRCUIT_A,), max_concurrent=1, max_queue=4,
        lanes=(Lane(circuits=(CIRCUIT_A,), max_concurrent=1, max_queue=4),),
    )
    assert decode(Capabilities, encode(caps), max_bytes=10_000) == caps
    lane = Lane(circuits=(CIRCUIT_A, CIRCUIT_A), max_concurrent=1, max_queue=0)
    with pytest.raises(ValueError):
        Capabilities(circuits=(CIRCUIT_A, CIRCUIT_A), max_concurrent=1, max_queue=0, lanes=(lane,))
    with pytest.raises(ValueError):
        Capabilities(circuits=("nope",), max_concurrent=1, max_queue=0)
    with pytest.raises(ValueError):
        Capabilities(circuits=(), max_concurrent=0, max_queue=0)


def _lane(*circuits: str, workers: int = 1, queue: int = 2) -> dict[str, object]:
    return {"circuits": list(circuits), "max_concurrent": workers, "max_queue": queue}


def _capabilities_json(lanes: list[dict[str, object]], **overrides: object) -> bytes:
    body: dict[str, object] = {
        "protocol_version": PROTOCOL_VERSION,
        "circuits": [CIRCUIT_A, CIRCUIT_B],
        "max_concurrent": sum(int(lane["max_concurrent"]) for lane in lanes),  # type: ignore[call-overload]
        "max_queue": sum(int(lane["max_queue"]) for lane in lanes),  # type: ignore[call-overload]
        "lanes": lanes,
    }
    body.update(overrides)
    return json.dumps(body).encode()


def test_capabilities_lanes_name_each_served_circuit_once():
    caps = decode(Capabilities, _capabilities_json([_lane(CIRCUIT_A), _lane(CIRCUIT_B, workers=2)]),
                  max_bytes=10_000)
    assert caps.lane_of(CIRCUIT_B) == Lane(circuits=(CIRCUIT_B,), max_concurrent=2, max_queue=2)
    assert caps.lane_of("c" * 64) is None


@pytest.mark.parametrize(
    "body",
    [
        _capabilities_json([_lane(CIRCUIT_A)]),  # B served but in no lane
        _capabilities_json([_lane(CIRCUIT_A, CIRCUIT_B), _lane(CIRCUIT_B)]),  # B in two lanes
        _capabilities_json([_lane(CIRCUIT_A), _lane(CIRCUIT_B), _lane("c" * 64)]),  # a lane of nothing served
        _capabilities_json([_lane(CIRCUIT_A), _lane(CIRCUIT_B)], max_concurrent=3),  # totals disagree
        _capabilities_json([_lane(CIRCUIT_A), _lane(CIRCUIT_B)], max_queue=1),
        _capabilities_json([]),  # version 2 serving circuits without lanes
    ],
)
def test_capabilities_refuse_lanes_that_do_not_split_the_circuits(body):
    with pytest.raises(InvalidMessage):
        decode(Capabilities, body, max_bytes=10_000)


def test_capabilities_of_protocol_version_1_parse_without_lanes():
    """An older miner's body (no ``lanes``) is read, so its version can be named in the error."""
    body = json.dumps({"protocol_version": 1, "circuits": [CIRCUIT_A], "max_concurrent": 1, "max_queue": 4})
    caps = decode(Capabilities, body.encode(), max_bytes=10_000)
    assert caps.protocol_version == 1 and caps.lanes == () and caps.lane_of(CIRCUIT_A) is None


def test_every_error_code_has_one_status_and_round_trips():
    for code in ErrorCode:
        assert 400 <= code.http_status < 600
        err = ErrorResponse(code=code, message="why")
        assert decode(ErrorResponse, encode(err), max_bytes=1000) == err
    with pytest.raises(InvalidMessage):
        decode(ErrorResponse, b'{"code": "teapot"}', max_bytes=1000)


def test_messages_are_frozen():
    req = decode(ProofRequest, request_json(), max_bytes=10_000)
    with pytest.raises(ValueError):
        req.inputs = (1.0,)  # type: ignore[misc]


def test_response_target_binds_route_and_nonce():
    assert protocol.response_target("/v1/prove", 123) == "/v1/prove#123"
    assert protocol.response_target("/v1/prove", None) == "/v1/prove#-"
