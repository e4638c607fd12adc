"""receipts.check_receipt: a genuine receipt verifies offline with only its model folder;
any change to it is a rejection that names what failed.

The receipt is genuine (the ``receipt`` fixture: a real EZKL proof of wine_mlp through the
real miner app, ``MinerClient``, verifier and ``ReceiptFolder``); the circuits are loaded
from a folder holding nothing but wine_mlp's model folder and the SRS.
"""

from __future__ import annotations

import json
import shutil
import time

import bittensor as bt
import numpy as np
import pytest

from execution_layer import CircuitRegistry
from protocol import decode_receipt
from receipts import CHECKS, check_receipt
from tests.support.paths import REPO_ROOT
from tests.support.receipts import challenge_keeping_receipts, receipt_folder, resigned, tampered

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def wine_only(tmp_path_factory) -> CircuitRegistry:
    """The circuits a client has who was handed wine_mlp's model folder and the SRS, nothing else."""
    root = tmp_path_factory.mktemp("client") / "models"
    shutil.copytree(REPO_ROOT / "models" / "wine_mlp", root / "wine_mlp")
    shutil.copytree(REPO_ROOT / "models" / "srs", root / "srs")
    return CircuitRegistry.load(root)


def checks_failed(verdict) -> set[str]:
    return {failure.check for failure in verdict.failures}


def test_a_genuine_receipt_verifies_with_only_its_model_folder(receipt, wine_only, real_proof):
    verdict = check_receipt(receipt, wine_only)
    assert verdict.verified, verdict.failures
    assert verdict.circuit_name == "wine_mlp"
    assert verdict.outputs == real_proof[1].outputs == decode_receipt(receipt).outputs


# (the field changed, by one character; the checks that must name it)
FIELDS = [
    (("request", "inputs", 3), {"proof"}),  # the proof is bound to other inputs
    (("request", "request_id"), {"response"}),  # the signed response answers another request
    (("request", "circuit_id"), {"circuit", "response"}),
    (("request", "deadline"), {"validator signature"}),
    (("circuit_id",), {"circuit"}),
    (("outputs", 1), {"outputs"}),
    (("proof",), {"proof"}),
    (("instances", 0, 13), {"instances", "proof"}),
    (("response",), {"miner signature"}),
    (("route",), {"miner signature"}),
    (("request_nonce",), {"miner signature"}),
    (("miner", "signature"), {"miner signature"}),
    (("miner", "hotkey"), {"miner signature"}),
    (("miner", "nonce"), {"miner signature"}),
    (("validator", "hotkey"), {"validator signature", "miner signature"}),
    (("validator_signature",), {"validator signature"}),
    (("requested_at",), {"validator signature"}),
    (("answered_at",), {"validator signature"}),
]


@pytest.mark.parametrize(("path", "named"), FIELDS, ids=[".".join(map(str, p)) for p, _ in FIELDS])
def test_one_character_changed_in_any_field_is_a_rejection_naming_what_failed(receipt, wine_only, path, named):
    """Tried: one character of one field changed, the file still canonical JSON. Must hold:
    rejected, the failures include the checks that field is bound by, and the validator's
    signature (over every field) fails for every field but itself — which fails alone."""
    verdict = check_receipt(tampered(receipt, path), wine_only)
    assert not verdict.verified
    assert named <= checks_failed(verdict), verdict.failures
    assert "validator signature" in checks_failed(verdict)
    if path == ("validator_signature",):
        assert checks_failed(verdict) == {"validator signature"}
    assert checks_failed(verdict) <= set(CHECKS)


def test_every_field_of_a_receipt_is_covered_by_the_tampering_cases(receipt):
    """So a field added to the receipt without a check shows up here."""
    def leaves(value, path=()):
        if isinstance(value, dict):
            for key, inner in value.items():
                yield from leaves(inner, path + (key,))
        else:
            yield path

    tried = {path[:2] if path[0] in ("request", "miner", "validator") else path[:1] for path, _ in FIELDS}
    fields = {path[:2] if path[0] in ("request", "miner", "validator") else path[:1]
              for path in leaves(json.loads(receipt))}
    constant = {("receipt_version",), ("request", "protocol_version"), ("miner", "scheme"), ("validator", "scheme")}
    assert fields - constant == tried


def test_any_byte_flipped_anywhere_in_the_file_is_a_rejection(receipt, wine_only):
    """Tried: 150 byte positions spread over the whole file (fixed seed), each flipped
    (low bit). Must hold: every one is rejected — whether the bytes stop being JSON, stop
    being canonical, or change a value."""
    positions = np.random.default_rng(12).choice(len(receipt), size=150, replace=False)
    accepted = []
    for at in sorted(int(p) for p in positions):
        flipped = receipt[:at] + bytes([receipt[at] ^ 0x01]) + receipt[at + 1:]
        if check_receipt(flipped, wine_only).verified:
            accepted.append(at)
    assert accepted == []


def test_bytes_that_are_not_a_receipt_fail_the_receipt_check_alone(wine_only):
    verdict = check_receipt(b'{"hello": "world"}', wine_only)
    assert checks_failed(verdict) == {"receipt"} and verdict.receipt is None and verdict.outputs is None


def test_a_validator_re_signing_changed_outputs_is_caught_by_the_proof(receipt, wine_only, cast):
    """Tried: the validator itself publishes a receipt with other outputs, properly signed.
    Must hold: its signature verifies, the receipt is rejected for its outputs alone, and the
    verdict reports the outputs the proof actually has."""
    parsed = decode_receipt(receipt)
    signer = bt.resolve_signer(cast.validator, role="hotkey")
    forged = resigned(receipt, signer, outputs=tuple(v + 1.0 for v in parsed.outputs))
    verdict = check_receipt(forged, wine_only)
    assert checks_failed(verdict) == {"outputs"}, verdict.failures
    assert verdict.outputs == parsed.outputs


def test_a_validator_re_signing_other_inputs_is_caught_by_the_input_binding(receipt, wine_only, cast):
    parsed = decode_receipt(receipt)
    signer = bt.resolve_signer(cast.validator, role="hotkey")
    request = parsed.request.model_copy(update={"inputs": tuple(v / 2 for v in parsed.request.inputs)})
    verdict = check_receipt(resigned(receipt, signer, request=request), wine_only)
    assert checks_failed(verdict) == {"proof"}, verdict.failures
    assert "input instances differ" in verdict.failures[0].reason


def test_a_validator_re_signing_an_answer_before_its_request_is_caught_by_the_timestamps(receipt, wine_only, cast):
    parsed = decode_receipt(receipt)
    signer = bt.resolve_signer(cast.validator, role="hotkey")
    forged = resigned(receipt, signer, answered_at=parsed.requested_at - 1.0)
    assert checks_failed(check_receipt(forged, wine_only)) == {"timestamps"}


def test_a_receipt_for_a_circuit_the_client_does_not_have_is_rejected_unproved(receipt, tmp_path):
    """Only digits_cnn on hand: the circuit check fails and the proof is not checked (no outputs)."""
    root = tmp_path / "models"
    shutil.copytree(REPO_ROOT / "models" / "digits_cnn", root / "digits_cnn")
    shutil.copytree(REPO_ROOT / "models" / "srs", root / "srs")
    verdict = check_receipt(receipt, CircuitRegistry.load(root))
    assert checks_failed(verdict) == {"circuit"} and verdict.outputs is None
    assert "--models" in verdict.failures[0].reason


def test_a_validator_re_signing_another_known_circuit_id_is_caught_by_the_circuit_check(receipt, registry, cast):
    """Tried: the receipt names digits_cnn, a circuit the client has, instead of the request's.
    Must hold: the circuit check names the mismatch (the proof is not checked against either)."""
    signer = bt.resolve_signer(cast.validator, role="hotkey")
    other = registry.by_name("digits_cnn").id
    verdict = check_receipt(resigned(receipt, signer, circuit_id=other), registry)
    assert checks_failed(verdict) == {"circuit"}, verdict.failures
    assert "the request" in verdict.failures[0].reason


def test_a_validator_re_signing_another_valid_proof_is_caught_by_the_miners_signature_over_it(
    receipt, wine_only, real, cast
):
    """Tried: a second, equally valid proof of the same inputs (EZKL proofs are randomised) put
    in the receipt, which the miner never signed. Must hold: rejected for the proof alone."""
    parsed = decode_receipt(receipt)
    circuit, prover, _ = real
    again = prover.prove(circuit.id, np.asarray(parsed.request.inputs, dtype=np.float32))
    assert again.proof.proof != parsed.proof and again.proof.instances == parsed.instances
    signer = bt.resolve_signer(cast.validator, role="hotkey")
    verdict = check_receipt(resigned(receipt, signer, proof=again.proof.proof), wine_only)
    assert checks_failed(verdict) == {"proof"}, verdict.failures
    assert "signed response" in verdict.failures[0].reason


async def test_a_receipt_made_a_day_ago_still_verifies(cast, real, real_proof, wine_only, tmp_path):
    """Tried: both sides' clocks a day behind, so every signature's nonce is a day old. Must
    hold: verified — a receipt is checked long after it was made; freshness is not an
    offline question (the signatures are checked as of their own time)."""
    folder = receipt_folder(cast, tmp_path)
    record = await challenge_keeping_receipts(
        cast, real[0], real[2], real_proof, folder, clock=lambda: time.time() - 86_400
    )
    assert record.verified, record.reason
    (path,) = tmp_path.glob("*.json")
    verdict = check_receipt(path.read_bytes(), wine_only)
    assert verdict.verified, verdict.failures
    assert time.time() - verdict.receipt.requested_at > 86_000
