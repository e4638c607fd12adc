"""protocol's receipt format: one spelling per receipt, and a signing payload that covers
every field but the signature. The receipt under test is a genuine one (the ``receipt``
fixture: a real EZKL proof through the real miner app, client and validator)."""

from __future__ import annotations

import json

import pytest

from protocol import (
    MAX_RECEIPT_BYTES,
    RECEIPT_CONTEXT,
    InvalidMessage,
    MessageTooLarge,
    NotCanonical,
    Receipt,
    decode_receipt,
    encode_receipt,
    receipt_signing_payload,
)


def test_a_written_receipt_decodes_and_encodes_back_to_the_same_bytes(receipt):
    parsed = decode_receipt(receipt)
    assert encode_receipt(parsed) == receipt
    assert receipt.endswith(b"}\n") and b" " not in receipt


@pytest.mark.parametrize(
    "respell",
    [
        pytest.param(lambda doc: json.dumps(doc, indent=2, sort_keys=True).encode() + b"\n", id="pretty-printed"),
        pytest.param(lambda doc: json.dumps(doc, separators=(",", ":"), sort_keys=True).encode(), id="no-newline"),
        pytest.param(
            lambda doc: json.dumps(dict(reversed(sorted(doc.items()))), separators=(",", ":")).encode() + b"\n",
            id="keys-unsorted",
        ),
        pytest.param(
            lambda doc: json.dumps(doc, separators=(",", ":"), sort_keys=True).encode() + b"\n\n", id="two-newlines"
        ),
    ],
)
def test_another_spelling_of_the_same_receipt_is_refused_as_not_canonical(receipt, respell):
    """Tried: the same values spelled otherwise. Must hold: NotCanonical, so no byte of a
    receipt can change without a checker noticing, even where the parsed value would not."""
    other = respell(json.loads(receipt))
    assert other != receipt
    with pytest.raises(NotCanonical, match="not canonical"):
        decode_receipt(other)


def test_a_float_spelled_another_way_is_not_canonical(receipt):
    """``2.5`` and ``2.50`` parse alike; only the canonical spelling is a receipt."""
    doc = receipt.decode()
    start = doc.index('"answered_at":') + len('"answered_at":')
    end = doc.index(",", start)
    respelled = (doc[:end] + "0" + doc[end:]).encode()
    with pytest.raises(NotCanonical):
        decode_receipt(respelled)


def test_an_unknown_field_is_refused(receipt):
    doc = json.loads(receipt)
    doc["note"] = "trust me"
    with pytest.raises(InvalidMessage, match="note"):
        decode_receipt(json.dumps(doc, separators=(",", ":"), sort_keys=True).encode() + b"\n")


def test_more_than_the_receipt_limit_is_refused_unparsed():
    with pytest.raises(MessageTooLarge):
        decode_receipt(b" " * (MAX_RECEIPT_BYTES + 1))


def test_the_signing_payload_covers_every_field_but_the_signature(receipt):
    """Changing the signature leaves the payload alone (so it can be signed after building);
    changing any other top-level field changes it."""
    parsed = decode_receipt(receipt)
    payload = receipt_signing_payload(parsed)
    assert payload.startswith(RECEIPT_CONTEXT)
    resigned = parsed.model_copy(update={"validator_signature": "0x" + "11" * 64})
    assert receipt_signing_payload(resigned) == payload
    changed = {
        "circuit_id": "f" * 64,
        "request_nonce": parsed.request_nonce + 1,
        "requested_at": parsed.requested_at + 1,
        "answered_at": parsed.answered_at + 1,
        "route": "/v1/other",
        "response": parsed.response + b" ",
        "outputs": parsed.outputs + (0.0,),
        "proof": parsed.proof + b"\0",
        "instances": parsed.instances + (("0" * 64,),),
        "miner": parsed.miner.model_copy(update={"nonce": parsed.miner.nonce + 1}),
        "validator": parsed.validator.model_copy(update={"scheme": "ed25519"}),
        "request": parsed.request.model_copy(update={"deadline": parsed.request.deadline + 1}),
    }
    assert set(changed) | {"validator_signature", "receipt_version"} == set(Receipt.model_fields)
    for field, value in changed.items():
        assert receipt_signing_payload(parsed.model_copy(update={field: value})) != payload, field
