"""The standalone receipt verifier: checks a validator's ``protocol.Receipt`` offline.

Needs no chain and no validator: only the receipt file and the circuit's public,
hash-pinned model folder (its settings, verifying key and SRS). Imports only
``protocol``, ``execution_layer`` and bittensor's signature primitives for that, so a
client can run it without any neuron code; only the optional on-chain pin check
(``--network``) reads a chain, through ``neurons.chain`` (and ``neurons.devnet`` for the devnet).

- ``check_receipt(data, circuits, pin=None) -> ReceiptVerdict``: every check, every failure named;
- ``read_onchain_pin(network, netuid) -> OnChainPin``: the subnet owner's circuit pin;
- ``python -m receipts verify FILE [--models DIR] [--srs-dir DIR] [--network NET --netuid N]``:
  the same, for people (exit 0 verified, 1 rejected, 2 could not check).
"""

from receipts._check import CHECKS, Failure, ReceiptVerdict, check_receipt
from receipts._pin import OnChainPin, read_onchain_pin

__all__ = ["check_receipt", "ReceiptVerdict", "Failure", "CHECKS", "OnChainPin", "read_onchain_pin"]
