"""Convert between ``Proof`` and ezkl's proof JSON.

Only two fields of ezkl's proof file are read: ``instances`` (field elements,
64 hex chars little-endian) and ``proof`` (the raw proof bytes). The others
(``hex_proof``, ``pretty_public_inputs``, ...) are not checked by ezkl's
verifier and can be edited freely, so they are never trusted or carried.
"""

from __future__ import annotations

from typing import Any

from execution_layer.types import Proof

__all__ = ["proof_from_ezkl", "proof_to_ezkl"]


def proof_from_ezkl(circuit_id: str, data: dict[str, Any]) -> Proof:
    """Build a Proof from a parsed ezkl proof JSON (``proof`` as a byte list or hex string)."""
    raw = data["proof"]
    if isinstance(raw, str):
        proof = bytes.fromhex(raw.removeprefix("0x"))
    else:
        proof = bytes(raw)
    instances = tuple(tuple(str(v) for v in column) for column in data["instances"])
    return Proof(circuit_id=circuit_id, instances=instances, proof=proof)


def proof_to_ezkl(proof: Proof) -> dict[str, Any]:
    """The minimal ezkl proof JSON ezkl.verify accepts for ``proof``."""
    return {
        "instances": [list(column) for column in proof.instances],
        "proof": list(proof.proof),
        "protocol": None,
        "split": None,
    }
