"""The pinned set's commitment layout: what the owner writes is what every reader decodes."""

from __future__ import annotations

import hashlib

import pytest

from protocol import MAX_PINNED, PinFormatError, PinnedCircuit, PinSet, decode_pin, encode_pin


def _circuit(i: int) -> PinnedCircuit:
    return PinnedCircuit(hashlib.sha256(b"id%d" % i).hexdigest(), hashlib.sha256(b"vk%d" % i).hexdigest())


def _hexed(fields: list[dict[str, bytes]]) -> list[dict[str, str]]:
    """The fields as the RPC decodes them: byte arrays as 0x hex."""
    return [{k: "0x" + v.hex() for k, v in f.items()} for f in fields]


def test_a_set_round_trips_through_the_fields_in_every_byte_spelling():
    pins = PinSet.of([_circuit(2), _circuit(1)])
    fields = encode_pin(pins)
    assert decode_pin(fields) == pins
    assert decode_pin(_hexed(fields)) == pins
    assert decode_pin([{k: list(v) for k, v in f.items()} for f in fields]) == pins


def test_the_set_is_sorted_and_its_digest_ignores_the_order_given():
    a, b = _circuit(1), _circuit(2)
    assert PinSet.of([a, b]) == PinSet.of([b, a, b])
    assert PinSet.of([a, b]).digest == PinSet.of([b, a]).digest != PinSet.of([a]).digest
    many = [_circuit(i) for i in range(10)]
    assert list(PinSet.of(reversed(many)).circuits) == sorted(many, key=lambda c: c.circuit_id)


def test_the_first_field_is_the_sha256_of_the_canonical_text():
    pins = PinSet.of([_circuit(1)])
    c = pins.circuits[0]
    assert pins.canonical() == f"poi-pins/1\n{c.circuit_id} {c.vk_sha256}\n".encode()
    assert encode_pin(pins)[0] == {"Sha256": hashlib.sha256(pins.canonical()).digest()}


def test_fifteen_circuits_fit_in_two_bigraw_fields_and_sixteen_are_refused():
    full = PinSet.of(_circuit(i) for i in range(MAX_PINNED))
    fields = encode_pin(full)
    assert MAX_PINNED == 15
    assert [next(iter(f)) for f in fields] == ["Sha256", "BigRaw", "BigRaw"]
    assert all(len(f["BigRaw"]) <= 512 for f in fields[1:])
    assert decode_pin(fields) == full
    with pytest.raises(PinFormatError, match="16 circuits do not fit"):
        encode_pin(PinSet.of(_circuit(i) for i in range(MAX_PINNED + 1)))


def test_an_empty_set_is_not_published():
    with pytest.raises(PinFormatError, match="no circuit"):
        encode_pin(PinSet.of([]))


def test_an_id_that_is_no_sha256_is_refused():
    with pytest.raises(PinFormatError, match="circuit_id"):
        PinnedCircuit("digits_cnn", "0" * 64)


@pytest.mark.parametrize(
    "tamper, reason",
    [
        (lambda f: f[1:], "first field is not a Sha256"),
        (lambda f: [f[0]], "not followed by BigRaw"),
        (lambda f: [f[0], {"Raw8": b"PIN1abcd"}], "not followed by BigRaw"),
        (lambda f: [f[0], {"BigRaw": b"XXXX" + f[1]["BigRaw"][4:]}], "does not start with"),
        (lambda f: [f[0], {"BigRaw": f[1]["BigRaw"][:-1]}], "holds 127 bytes"),
        (lambda f: [{"Sha256": bytes(32)}, f[1]], "do not hash to the committed digest"),
        (lambda f: [f[0], {"BigRaw": "0xzz"}], "not hex"),
        (lambda f: ["None"], "first field is not a Sha256"),
    ],
    ids=["no digest", "no list", "raw list", "bad magic", "short list", "wrong digest", "bad hex", "unit"],
)
def test_a_commitment_that_is_not_exactly_a_pinned_set_is_refused_naming_why(tamper, reason):
    fields = encode_pin(PinSet.of([_circuit(1), _circuit(2)]))
    with pytest.raises(PinFormatError, match=reason):
        decode_pin(tamper(fields))


def test_find_names_the_pinned_entry_of_an_id():
    pins = PinSet.of([_circuit(1)])
    assert pins.find(_circuit(1).circuit_id) == _circuit(1)
    assert pins.find(_circuit(2).circuit_id) is None
    assert pins.ids() == {_circuit(1).circuit_id}
