"""neurons.shared.proofs: a prover's result on the wire and back, without loss."""

from __future__ import annotations

import pytest

from neurons.shared.proofs import proof_of, proof_response
from tests.support.provers import CIRCUIT_A, fake_result

REQ_ID = "0" * 32


def test_a_result_wrapped_for_the_wire_unwraps_to_the_same_proof():
    result = fake_result(CIRCUIT_A, (1.0, 2.0))
    response = proof_response(result, request_id=REQ_ID, queue_s=0.25)
    assert proof_of(response) == result.proof
    assert response.outputs == result.outputs and response.queue_s == 0.25


def test_prove_time_defaults_to_witness_plus_proving_and_an_explicit_one_wins():
    result = fake_result(CIRCUIT_A, (1.0,))
    default = proof_response(result, request_id=REQ_ID, queue_s=0.0)
    assert default.prove_s == pytest.approx(result.witness_s + result.prove_s)
    assert proof_response(result, request_id=REQ_ID, queue_s=0.0, prove_s=3.5).prove_s == 3.5
