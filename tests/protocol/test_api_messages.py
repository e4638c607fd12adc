"""protocol._api: the validator API's messages refuse what the API must not act on."""

from __future__ import annotations

import pytest

from protocol import (
    MAX_API_REQUEST_BYTES,
    MAX_DEADLINE_S,
    ApiErrorCode,
    InferRequest,
    InvalidMessage,
    MessageTooLarge,
    decode,
)

CIRCUIT = "a" * 64


def parse(body: str) -> InferRequest:
    return decode(InferRequest, body.encode(), max_bytes=MAX_API_REQUEST_BYTES)


def test_a_request_without_a_deadline_parses_with_none():
    request = parse(f'{{"circuit_id": "{CIRCUIT}", "inputs": [0.5, -1]}}')
    assert request.inputs == (0.5, -1.0) and request.deadline_s is None


@pytest.mark.parametrize("body, field", [
    (f'{{"circuit_id": "{CIRCUIT}", "inputs": []}}', "inputs"),
    (f'{{"circuit_id": "{CIRCUIT}", "inputs": [NaN]}}', "inputs.0"),
    (f'{{"circuit_id": "{CIRCUIT}", "inputs": ["1.0"]}}', "inputs.0"),
    (f'{{"circuit_id": "{CIRCUIT}", "inputs": [1], "deadline_s": {MAX_DEADLINE_S + 1}}}', "deadline_s"),
    (f'{{"circuit_id": "{CIRCUIT}", "inputs": [1], "deadline_s": 0}}', "deadline_s"),
    (f'{{"circuit_id": "{CIRCUIT.upper()}", "inputs": [1]}}', "circuit_id"),
    (f'{{"circuit_id": "{CIRCUIT}", "inputs": [1], "miner": "5F"}}', "miner"),
])
def test_a_request_breaking_a_rule_is_refused_naming_the_field(body, field):
    with pytest.raises(InvalidMessage, match=rf"invalid InferRequest: {field}"):
        parse(body)


def test_a_request_over_the_byte_limit_is_refused_before_parsing():
    with pytest.raises(MessageTooLarge):
        decode(InferRequest, b" " * (MAX_API_REQUEST_BYTES + 1), max_bytes=MAX_API_REQUEST_BYTES)


def test_each_error_code_has_its_one_status():
    assert {code: code.http_status for code in ApiErrorCode} == {
        ApiErrorCode.UNAUTHENTICATED: 401, ApiErrorCode.FORBIDDEN: 403, ApiErrorCode.NOT_FOUND: 404,
        ApiErrorCode.UNKNOWN_CIRCUIT: 404, ApiErrorCode.METHOD_NOT_ALLOWED: 405, ApiErrorCode.TIMEOUT: 408,
        ApiErrorCode.TOO_LARGE: 413, ApiErrorCode.INVALID_REQUEST: 422, ApiErrorCode.INVALID_INPUTS: 422,
        ApiErrorCode.RATE_LIMITED: 429, ApiErrorCode.NO_MINER: 503, ApiErrorCode.UNAVAILABLE: 503,
        ApiErrorCode.INTERNAL: 500,
    }
