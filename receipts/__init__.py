"""The standalone receipt verifier: checks a validator's ``protocol.Receipt`` offline.

Needs no chain and no validator: only the receipt file and the circuit's public,
hash-pinned model folder (its settings, verifying key and SRS). Imports only
``protocol``, ``execution_layer`` and bittensor's signature primitives, so a
client can run it without any neuron code.

- ``check_receipt(data, circuits) -> ReceiptVerdict``: every check, every failure named;
- ``python -m receipts verify FILE [--models DIR] [--srs-dir DIR]``: the same, for people
  (exit 0 verified, 1 rejected, 2 could not check).
"""

from receipts._check import CHECKS, Failure, ReceiptVerdict, check_receipt

__all__ = ["check_receipt", "ReceiptVerdict", "Failure", "CHECKS"]
