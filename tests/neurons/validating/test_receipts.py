"""neurons.validating.receipts and challenge_miner keeping them: a receipt per accepted answer,
written whole, in a folder kept under its byte budget, never at the cost of a round.

The challenges are real (``tests.support.receipts``: the real miner app answering with a
real EZKL proof, the real ``MinerClient`` and verifier); receipts are checked with the
standalone verifier they are written for.
"""

from __future__ import annotations

import logging

import bittensor as bt
import numpy as np
import pytest

from neurons.validating.challenge import Outcome
from neurons.validating.client import QueryOutcome, QueryStatus
from neurons.validating.receipts import ReceiptError, ReceiptFolder, build_receipt
from protocol import ProofRequest, decode_receipt
from receipts import check_receipt
from tests.support.receipts import challenge_keeping_receipts, receipt_folder
from tests.support.wallets import hotkey_of

pytestmark = pytest.mark.anyio


def receipts_in(folder) -> list:
    return sorted(folder.glob("*.json"))


async def test_an_accepted_answer_leaves_one_receipt_that_verifies_offline(cast, real, real_proof, registry, tmp_path):
    circuit, _, verifier = real
    record = await challenge_keeping_receipts(cast, circuit, verifier, real_proof, receipt_folder(cast, tmp_path))
    assert record.outcome is Outcome.ACCEPTED
    (path,) = receipts_in(tmp_path)
    receipt = decode_receipt(path.read_bytes())
    assert receipt.miner.hotkey == hotkey_of(cast.miner) and receipt.validator.hotkey == hotkey_of(cast.validator)
    assert receipt.outputs == record.outputs
    assert receipt.answered_at - receipt.requested_at == pytest.approx(record.response_s, abs=1e-6)
    assert check_receipt(path.read_bytes(), registry).verified
    assert list(tmp_path.glob(".receipt-*")) == []  # no temporary file left behind


async def test_a_rejected_answer_leaves_no_receipt(cast, real, real_proof, tmp_path):
    """Tried: the validator sends other inputs than the proof's. Must hold: rejected, no receipt."""
    circuit, _, verifier = real
    inputs, result = real_proof
    other = (np.asarray(inputs) * 0.5, result)
    record = await challenge_keeping_receipts(cast, circuit, verifier, other, receipt_folder(cast, tmp_path))
    assert record.outcome is Outcome.REJECTED
    assert receipts_in(tmp_path) == []


async def test_the_folder_keeps_the_newest_receipts_within_its_budget(cast, real, real_proof, tmp_path):
    """Tried: four receipts into a folder with room for two and a half, which already holds an
    old receipt and a file of the operator's. Must hold: the two newest receipts stay, the
    total stays within budget, the operator's file is untouched."""
    circuit, _, verifier = real
    probe = receipt_folder(cast, tmp_path / "probe")
    await challenge_keeping_receipts(cast, circuit, verifier, real_proof, probe)
    size = probe.total_bytes
    folder = tmp_path / "kept"
    folder.mkdir()
    (folder / f"{0:020d}-{'0' * 32}.json").write_bytes(b"x" * size)  # the oldest there is
    (folder / "notes.txt").write_text("mine")
    receipts = receipt_folder(cast, folder, max_bytes=int(2.5 * size))
    assert receipts.total_bytes == size
    names = []
    for _ in range(4):
        await challenge_keeping_receipts(cast, circuit, verifier, real_proof, receipts)
        names.append(receipts_in(folder)[-1].name)
    assert [p.name for p in receipts_in(folder)] == names[-2:]
    assert receipts.total_bytes == sum(p.stat().st_size for p in receipts_in(folder)) <= 2.5 * size
    assert (folder / "notes.txt").read_text() == "mine"


async def test_a_receipt_that_cannot_be_written_is_one_warning_and_the_answer_still_counts(
    cast, real, real_proof, tmp_path, caplog
):
    """Tried: the folder replaced by a file after start-up. Must hold: the record is accepted
    as without receipts, and one WARNING names the request."""
    circuit, _, verifier = real
    receipts = receipt_folder(cast, tmp_path / "gone")
    (tmp_path / "gone").rmdir()
    (tmp_path / "gone").write_text("not a folder")
    with caplog.at_level(logging.WARNING, logger="neurons.validating.receipts"):
        record = await challenge_keeping_receipts(cast, circuit, verifier, real_proof, receipts)
    assert record.outcome is Outcome.ACCEPTED
    (warning,) = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert warning.name == "neurons.validating.receipts" and "not kept" in warning.getMessage()
    assert receipts.total_bytes == 0


def test_an_answer_without_its_signed_body_cannot_become_a_receipt(cast, real_proof):
    request = ProofRequest(request_id="ab" * 16, circuit_id="cd" * 32, inputs=(1.0,), deadline=2e9)
    unsigned = QueryOutcome(QueryStatus.OK, None, 0.1)
    with pytest.raises(ReceiptError, match="no signed response"):
        build_receipt(signer=bt.resolve_signer(cast.validator, role="hotkey"), request=request,
                      query=unsigned, requested_at=1e9, outputs=(0.0,))


def test_a_folder_needs_a_positive_budget(cast, tmp_path):
    with pytest.raises(ValueError, match="positive"):
        ReceiptFolder(tmp_path, max_bytes=0, signer=bt.resolve_signer(cast.validator, role="hotkey"))


async def test_a_write_that_fails_midway_leaves_no_temporary_file(cast, real, real_proof, tmp_path, monkeypatch, caplog):
    """Tried: the disk fails while the receipt is being flushed. Must hold: one WARNING, and
    neither a receipt nor its temporary file is left in the folder."""
    import neurons.validating.receipts as receipts_module

    def failing_fsync(fd):
        raise OSError(28, "No space left on device")

    circuit, _, verifier = real
    receipts = receipt_folder(cast, tmp_path)
    monkeypatch.setattr(receipts_module.os, "fsync", failing_fsync)
    with caplog.at_level(logging.WARNING, logger="neurons.validating.receipts"):
        record = await challenge_keeping_receipts(cast, circuit, verifier, real_proof, receipts)
    monkeypatch.undo()
    assert record.outcome is Outcome.ACCEPTED
    assert "No space left" in caplog.text
    assert list(tmp_path.iterdir()) == []
