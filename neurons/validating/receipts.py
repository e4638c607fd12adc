"""The validator keeping receipts: one signed ``protocol.Receipt`` per verified answer.

:func:`build_receipt` turns an accepted challenge (the request as sent, the
``MinerClient`` answer with its raw body and signature headers, the verified
outputs) into a receipt signed with the validator's hotkey. :class:`ReceiptFolder`
writes each one atomically (a temporary file renamed into place, so a reader
never sees half a receipt) into one folder, and keeps the folder under a byte
budget by deleting the oldest receipts first. Receipts are named
``<requested_at ns>-<request id>.json``, so name order is age order.

Keeping receipts never fails a round: :meth:`ReceiptFolder.keep` logs one
WARNING for a receipt it could not build or write and returns None. Checking a
receipt is not done here: that is the standalone ``python -m receipts``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
import threading
from collections import deque
from pathlib import Path
from typing import Sequence

import bittensor as bt
from bittensor.http_auth import HEADER_CRYPTO, HEADER_HOTKEY, HEADER_NONCE, HEADER_SIGNATURE
from bittensor.wallets import CRYPTO_TYPE_NAMES

from neurons.validating.client import QueryOutcome
from protocol import (
    ROUTE_PROVE,
    MinerSeal,
    ProofRequest,
    ProofResponse,
    Receipt,
    ValidatorSeal,
    encode_receipt,
    receipt_signing_payload,
)

__all__ = ["ReceiptError", "build_receipt", "ReceiptFolder"]

log = logging.getLogger(__name__)

_SUFFIX = ".json"
# A syntactically valid placeholder, replaced once the payload (which excludes it) is signed.
_UNSIGNED = "0x" + "00" * 64


class ReceiptError(Exception):
    """A receipt cannot be built: the answer lacks what a receipt must carry."""


def build_receipt(
    *,
    signer: bt.Signer,
    request: ProofRequest,
    query: QueryOutcome[ProofResponse],
    requested_at: float,
    outputs: Sequence[float],
) -> Receipt:
    """The signed receipt of ``query``, an ``ok`` answer to ``request`` sent at ``requested_at``.

    ``outputs`` are the verified outputs (the proof's). ``answered_at`` is
    ``requested_at`` plus the query's measured ``response_s``, so the two never
    run backwards even if the wall clock steps. Raises :class:`ReceiptError`
    when the answer has no response, body, nonce or signature headers.
    """
    response, headers = query.response, query.signature
    if response is None or not query.raw or query.request_nonce is None or headers is None:
        raise ReceiptError("the answer carries no signed response body")
    lowered = {k.lower(): v for k, v in headers.items()}
    try:
        # Validated from the headers' strings: the scheme must be one a receipt knows.
        miner = MinerSeal.model_validate({
            "hotkey": lowered[HEADER_HOTKEY.lower()],
            "nonce": int(lowered[HEADER_NONCE.lower()]),
            "scheme": lowered.get(HEADER_CRYPTO.lower(), "sr25519"),
            "signature": lowered[HEADER_SIGNATURE.lower()],
        })
        validator = ValidatorSeal.model_validate(
            {"hotkey": signer.ss58_address, "scheme": CRYPTO_TYPE_NAMES[signer.crypto_type]}
        )
        unsigned = Receipt(
            circuit_id=request.circuit_id,
            request=request,
            route=ROUTE_PROVE,
            request_nonce=query.request_nonce,
            requested_at=requested_at,
            answered_at=requested_at + query.response_s,
            response=query.raw,
            miner=miner,
            outputs=tuple(outputs),
            proof=response.proof,
            instances=response.instances,
            validator=validator,
            validator_signature=_UNSIGNED,
        )
    except (KeyError, ValueError) as error:  # pydantic's ValidationError is a ValueError
        raise ReceiptError(f"the answer does not fit a receipt: {error}") from None
    signature = bytes(signer.sign(receipt_signing_payload(unsigned)))
    return unsigned.model_copy(update={"validator_signature": "0x" + signature.hex()})


class ReceiptFolder:
    """Receipts in ``folder``, at most ``max_bytes`` of them; oldest deleted first.

    The folder is created if missing (``OSError`` if it cannot be). Receipts
    already there count against the budget from the start; files that are not
    receipts are never touched. Thread-safe: ``keep`` may run in worker threads.
    A single receipt larger than the whole budget is still written, and
    everything older is deleted: the newest answer is the one worth keeping.
    """

    def __init__(self, folder: Path, *, max_bytes: int, signer: bt.Signer) -> None:
        if max_bytes <= 0:
            raise ValueError(f"max_bytes must be positive, not {max_bytes}")
        self.folder = Path(folder)
        self.max_bytes = max_bytes
        self._signer = signer
        self._lock = threading.Lock()
        self.folder.mkdir(parents=True, exist_ok=True)
        kept = sorted(
            (entry.name, entry.stat().st_size)
            for entry in os.scandir(self.folder)
            if entry.is_file() and _is_receipt_name(entry.name)
        )
        self._kept: deque[tuple[str, int]] = deque(kept)
        self._total = sum(size for _, size in kept)

    @property
    def total_bytes(self) -> int:
        """Bytes of the receipts this folder holds, as it accounts them."""
        return self._total

    def keep(
        self,
        *,
        request: ProofRequest,
        query: QueryOutcome[ProofResponse],
        requested_at: float,
        outputs: Sequence[float],
    ) -> Path | None:
        """Build, sign and write the receipt of an accepted answer; its path, or None.

        Never raises: a receipt that cannot be built or written is one WARNING
        naming the request and the reason (the round it belongs to goes on).
        """
        try:
            receipt = build_receipt(
                signer=self._signer, request=request, query=query, requested_at=requested_at, outputs=outputs
            )
        except Exception as error:  # the task boundary: a receipt is a by-product, never a failure
            log.warning(
                "receipt of request %s (circuit %s) not kept: %s: %s",
                request.request_id, request.circuit_id[:12], type(error).__name__, error,
            )
            return None
        return self.store(receipt)

    def store(self, receipt: Receipt) -> Path | None:
        """Write a receipt already built (the API builds one for its answer); its path, or None.

        Never raises: a receipt that cannot be written is one WARNING naming it.
        """
        try:
            return self._write(receipt)
        except Exception as error:  # the task boundary: keeping a receipt never fails its answer
            log.warning(
                "receipt of request %s (circuit %s) not kept: %s: %s",
                receipt.request.request_id, receipt.circuit_id[:12], type(error).__name__, error,
            )
            return None

    def _write(self, receipt: Receipt) -> Path:
        data = encode_receipt(receipt)
        name = f"{int(receipt.requested_at * 1e9):020d}-{receipt.request.request_id}{_SUFFIX}"
        path = self.folder / name
        fd, tmp = tempfile.mkstemp(dir=self.folder, prefix=".receipt-", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        with self._lock:
            self._kept.append((name, len(data)))
            self._total += len(data)
            self._prune()
        return path

    def _prune(self) -> None:
        """Delete the oldest receipts while over budget, never the newest one."""
        while self._total > self.max_bytes and len(self._kept) > 1:
            name, size = self._kept.popleft()
            self._total -= size
            with contextlib.suppress(OSError):  # gone already (an operator cleaned up): nothing to free
                os.unlink(self.folder / name)


def _is_receipt_name(name: str) -> bool:
    stem = name.removesuffix(_SUFFIX)
    return name.endswith(_SUFFIX) and stem[:20].isdigit() and stem[20:21] == "-"
