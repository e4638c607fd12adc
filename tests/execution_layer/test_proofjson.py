"""Proof <-> ezkl proof JSON."""

from __future__ import annotations

from execution_layer import Proof, proof_from_ezkl, proof_to_ezkl


def test_round_trip_keeps_instances_and_bytes(proofs):
    _, result = proofs["digits_cnn"]  # any shipped model would do; the default one is always proved
    proof = result.proof
    data = proof_to_ezkl(proof)
    assert set(data) >= {"instances", "proof"}
    assert proof_from_ezkl(proof.circuit_id, data) == proof


def test_hex_proof_strings_are_read_too():
    data = {"instances": [["00" * 32]], "proof": "0x0102ff"}
    assert proof_from_ezkl("c", data) == Proof("c", (("00" * 32,),), b"\x01\x02\xff")
