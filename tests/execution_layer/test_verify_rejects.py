"""verify() rejects every kind of bad proof with a reason, and never raises."""

from __future__ import annotations

import dataclasses
import time

import numpy as np
import pytest

from execution_layer import Proof, verify
from tests.support.inputs import fresh_input


def _flat(proof: Proof) -> list[str]:
    return [v for column in proof.instances for v in column]


def _with_instances(proof: Proof, flat: list[str]) -> Proof:
    return dataclasses.replace(proof, instances=(tuple(flat),))


def _bump(felt: str) -> str:
    """The field element plus one (little-endian hex)."""
    value = int.from_bytes(bytes.fromhex(felt), "little") + 1
    return value.to_bytes(32, "little").hex()


@pytest.fixture
def digits(registry, proofs):
    # A specific model on purpose: the tampering below is written for one known layout (the default model).
    circuit = registry.by_name("digits_cnn")
    inputs, result = proofs["digits_cnn"]
    return circuit, inputs, result.proof


def _rejected(verdict, *words):
    assert verdict.accepted is False
    assert verdict.outputs is None
    assert verdict.reason
    for word in words:
        assert word in verdict.reason, verdict.reason


def test_tampered_output_instance_is_rejected_by_the_snark(digits):
    """Changing one output felt (the prediction) keeps the input binding but fails ezkl.verify."""
    circuit, inputs, proof = digits
    flat = _flat(proof)
    flat[-1] = _bump(flat[-1])
    _rejected(verify(circuit, _with_instances(proof, flat), inputs), "SNARK")


def test_tampered_input_instance_is_rejected_by_the_binding_check(digits):
    circuit, inputs, proof = digits
    flat = _flat(proof)
    flat[0] = _bump(flat[0])
    _rejected(verify(circuit, _with_instances(proof, flat), inputs), "input instances differ", "position")


def test_proof_made_for_other_inputs_is_rejected(digits):
    """A valid proof of other inputs (e.g. a replayed or precomputed one) does not count."""
    circuit, inputs, proof = digits
    other = fresh_input(circuit, np.random.default_rng(99))
    assert not np.array_equal(other, inputs)
    _rejected(verify(circuit, proof, other), "other inputs")


def test_proof_checked_against_another_circuit_is_rejected(registry, proofs):
    # Two specific shipped models on purpose: a proof of one checked against the other.
    digits = registry.by_name("digits_cnn")
    wine_inputs, wine = proofs["wine_mlp"]
    _rejected(verify(digits, wine.proof, wine_inputs), "proof is for circuit")
    relabelled = dataclasses.replace(wine.proof, circuit_id=digits.id)
    _rejected(verify(digits, relabelled, wine_inputs))


@pytest.mark.parametrize(
    "mangle",
    [
        pytest.param(lambda b: b[: len(b) // 2], id="truncated"),
        pytest.param(lambda b: b[:-1], id="one-byte-short"),
        pytest.param(lambda b: bytes(len(b)), id="zeros"),
        pytest.param(lambda b: np.random.default_rng(1).bytes(len(b)), id="garbage"),
        pytest.param(lambda b: b"", id="empty"),
        pytest.param(lambda b: b[:100] + bytes([b[100] ^ 1]) + b[101:], id="one-bit-flipped"),
    ],
)
def test_bad_proof_bytes_are_rejected(digits, mangle):
    circuit, inputs, proof = digits
    _rejected(verify(circuit, dataclasses.replace(proof, proof=mangle(proof.proof)), inputs))


@pytest.mark.parametrize("extra", [lambda b: b"\0", lambda b: b], ids=["one-byte", "doubled"])
def test_trailing_bytes_are_refused_by_the_length_pin_naming_both_lengths(digits, extra):
    """ezkl ignores bytes after the proof, so the length check must be what refuses them."""
    circuit, inputs, proof = digits
    longer = dataclasses.replace(proof, proof=proof.proof + extra(proof.proof))
    got = len(longer.proof)
    _rejected(verify(circuit, longer, inputs), f"proof is {got} bytes", f"are {circuit.proof_bytes}")


@pytest.mark.parametrize(
    "instances",
    [
        pytest.param(lambda flat: (tuple(flat[:-1]),), id="one-missing"),
        pytest.param(lambda flat: (tuple(flat + flat[-1:]),), id="one-extra"),
        pytest.param(lambda flat: (), id="none"),
        pytest.param(lambda flat: (tuple(flat[:64]), tuple(flat[64:])), id="split-columns"),
    ],
)
def test_wrong_number_of_instances_is_rejected(digits, instances):
    circuit, inputs, proof = digits
    bad = dataclasses.replace(proof, instances=instances(_flat(proof)))
    _rejected(verify(circuit, bad, inputs), "instances")


@pytest.mark.parametrize(
    "felt",
    [
        pytest.param(lambda f: "0x" + f[2:], id="0x-prefixed"),
        pytest.param(lambda f: f.upper(), id="upper-case"),
        pytest.param(lambda f: f[:-2], id="short"),
        pytest.param(lambda f: "ff" * 32, id="not-below-the-modulus"),
        pytest.param(lambda f: 7, id="not-a-string"),
    ],
)
def test_malformed_instance_values_are_rejected(digits, felt):
    """Non-canonical field elements are refused before ezkl sees them (its parser panics on some)."""
    circuit, inputs, proof = digits
    flat = _flat(proof)
    flat[-1] = felt(flat[-1])
    if flat[-1] == _flat(proof)[-1]:
        pytest.skip("this output felt is unchanged by the mangling")
    _rejected(verify(circuit, _with_instances(proof, flat), inputs), "field elements")


def test_unusable_expected_inputs_give_a_rejection_not_an_exception(digits):
    circuit, inputs, proof = digits
    _rejected(verify(circuit, proof, inputs.reshape(-1)[:10]), "expected inputs")
    _rejected(verify(circuit, proof, np.full(circuit.input_shape, np.nan)), "expected inputs")


def test_garbage_proof_object_is_a_rejection(digits):
    circuit, inputs, _ = digits
    verdict = verify(circuit, Proof(circuit_id=circuit.id, instances=None, proof=b"x"), inputs)
    _rejected(verdict, "verification error", "TypeError")


def test_expected_inputs_of_another_length_than_the_input_instances_are_rejected(digits):
    """A circuit whose input shape covers only half the proof's input instances (a bad build) must not
    let the other half go unchecked: the lengths are compared before the values, even for a valid proof."""
    circuit, inputs, proof = digits
    spec = dataclasses.replace(circuit.spec, shape=(1, 1, 4, 8))
    half = dataclasses.replace(circuit, metadata=dataclasses.replace(circuit.metadata, input=spec))
    _rejected(verify(half, proof, np.asarray(inputs).reshape(-1)[:32]), "encode to 32 values", "64 input instances")


@pytest.mark.parametrize("case", ["accepted", "rejected-by-a-check", "rejected-by-an-error"])
def test_every_verdict_reports_the_time_verify_took(digits, case):
    """``verify_s`` (the validator's verify-time metric) lies within the call's own duration."""
    circuit, inputs, proof = digits
    if case == "rejected-by-a-check":
        proof = dataclasses.replace(proof, circuit_id="0" * 64)
    elif case == "rejected-by-an-error":
        proof = Proof(circuit_id=circuit.id, instances=None, proof=b"x")
    started = time.perf_counter()
    verdict = verify(circuit, proof, inputs)
    took = time.perf_counter() - started
    assert verdict.accepted is (case == "accepted"), verdict.reason
    assert 0 <= verdict.verify_s <= took
