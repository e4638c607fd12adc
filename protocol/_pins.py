"""The pinned circuit set: what the subnet owner publishes as an on-chain commitment.

The owner's hotkey commits, through the chain's Commitments pallet, the set of
circuits the subnet runs: each circuit's id and the sha256 of its verifying key.
Miners, validators and the receipt verifier read it back and compare it with
their own circuits (``neurons.shared.pins``, ``receipts``).

Layout of the commitment (``CommitmentInfo.fields``, at most 3 fields on the chain):

1. ``Sha256(digest)``: the sha256 of the canonical text of the set,
   ``"poi-pins/1\\n"`` then one ``"<circuit id> <vk sha256>\\n"`` line per circuit,
   sorted; 32 bytes. It names the set in one short string (``PinSet.digest``).
2. ``BigRaw(body)`` (and a second ``BigRaw`` when the first is full): the set itself,
   ``b"PIN1"``, one byte with the number of circuits, then per circuit, sorted, its
   id and its vk sha256 as 32 raw bytes each. Split at 512 bytes (the chain's
   ``MAX_BIGRAW_COMMITMENT_SIZE_BYTES``).

So a commitment lists at most :data:`MAX_PINNED` (15) circuits, 1,056 bytes in all; a
larger set is refused with :class:`PinFormatError`, not truncated. Decoding checks the
digest against the listed set, so a commitment whose two halves disagree is refused too.

Fields are in the form the SDK composes and decodes them: a one-key dict per field,
``{"Sha256": bytes}`` / ``{"BigRaw": bytes}`` when encoding; when decoding the
value may be bytes, ``0x`` hex (how the RPC decodes byte arrays) or a list of ints.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from ._codec import ProtocolError

__all__ = [
    "PIN_FORMAT",
    "MAX_PINNED",
    "PinFormatError",
    "PinnedCircuit",
    "PinSet",
    "encode_pin",
    "decode_pin",
]

PIN_FORMAT = "poi-pins/1"
_MAGIC = b"PIN1"
_BIGRAW_MAX = 512  # subtensor commitments/types.rs MAX_BIGRAW_COMMITMENT_SIZE_BYTES
_MAX_FIELDS = 3  # subtensor runtime/src/lib.rs MaxCommitFieldsInner
_ENTRY = 64  # a circuit id and a vk sha256, 32 bytes each
MAX_PINNED = ((_MAX_FIELDS - 1) * _BIGRAW_MAX - len(_MAGIC) - 1) // _ENTRY
_HEX64 = re.compile(r"[0-9a-f]{64}")


class PinFormatError(ProtocolError):
    """A pinned set that cannot be encoded (too many circuits, an id that is no sha256),
    or a commitment that is not a pinned set of this format."""


@dataclass(frozen=True, order=True)
class PinnedCircuit:
    """One pinned circuit: its id and the sha256 of its ``vk.key``, both lowercase hex."""

    circuit_id: str
    vk_sha256: str

    def __post_init__(self) -> None:
        for name in ("circuit_id", "vk_sha256"):
            value = getattr(self, name)
            if not isinstance(value, str) or not _HEX64.fullmatch(value):
                raise PinFormatError(f"{name} must be 64 lowercase hex digits, got {value!r}")


@dataclass(frozen=True)
class PinSet:
    """A set of pinned circuits, sorted and without repeats; build with :meth:`of`."""

    circuits: tuple[PinnedCircuit, ...]

    @classmethod
    def of(cls, circuits: Iterable[PinnedCircuit | tuple[str, str]]) -> PinSet:
        entries = {c if isinstance(c, PinnedCircuit) else PinnedCircuit(*c) for c in circuits}
        return cls(tuple(sorted(entries)))

    @property
    def digest(self) -> str:
        """sha256 (hex) of the canonical text of the set (module docstring)."""
        return hashlib.sha256(self.canonical()).hexdigest()

    def canonical(self) -> bytes:
        lines = [PIN_FORMAT] + [f"{c.circuit_id} {c.vk_sha256}" for c in self.circuits]
        return ("\n".join(lines) + "\n").encode()

    def ids(self) -> frozenset[str]:
        return frozenset(c.circuit_id for c in self.circuits)

    def find(self, circuit_id: str) -> PinnedCircuit | None:
        """The pinned entry for ``circuit_id``, None when the id is not pinned."""
        for c in self.circuits:
            if c.circuit_id == circuit_id:
                return c
        return None


def encode_pin(pins: PinSet) -> list[dict[str, bytes]]:
    """The commitment fields for ``pins`` (module docstring). Raises :class:`PinFormatError`
    for an empty set or one of more than :data:`MAX_PINNED` circuits."""
    if not pins.circuits:
        raise PinFormatError("nothing to pin: the set has no circuit")
    if len(pins.circuits) > MAX_PINNED:
        raise PinFormatError(
            f"{len(pins.circuits)} circuits do not fit in one commitment (at most {MAX_PINNED})"
        )
    body = _MAGIC + bytes([len(pins.circuits)]) + b"".join(
        bytes.fromhex(c.circuit_id) + bytes.fromhex(c.vk_sha256) for c in pins.circuits
    )
    chunks = [body[i:i + _BIGRAW_MAX] for i in range(0, len(body), _BIGRAW_MAX)]
    return [{"Sha256": bytes.fromhex(pins.digest)}] + [{"BigRaw": chunk} for chunk in chunks]


def decode_pin(fields: Sequence[Any]) -> PinSet:
    """The pinned set in commitment ``fields``. Raises :class:`PinFormatError` naming what is
    wrong when they are not exactly the layout :func:`encode_pin` writes, or when the listed
    set does not hash to the committed digest."""
    items = [_field(f) for f in fields]
    if not items or items[0][0] != "Sha256" or len(items[0][1]) != 32:
        raise PinFormatError(f"not a {PIN_FORMAT} commitment: the first field is not a Sha256 digest")
    if len(items) < 2 or any(variant != "BigRaw" for variant, _ in items[1:]):
        raise PinFormatError(f"not a {PIN_FORMAT} commitment: the digest is not followed by BigRaw fields")
    body = b"".join(data for _, data in items[1:])
    if not body.startswith(_MAGIC) or len(body) < len(_MAGIC) + 1:
        raise PinFormatError(f"not a {PIN_FORMAT} commitment: the list does not start with {_MAGIC!r}")
    count = body[len(_MAGIC)]
    entries = body[len(_MAGIC) + 1:]
    if len(entries) != count * _ENTRY:
        raise PinFormatError(
            f"the list says {count} circuits but holds {len(entries)} bytes ({count * _ENTRY} expected)"
        )
    pins = PinSet.of(
        (entries[i:i + 32].hex(), entries[i + 32:i + _ENTRY].hex()) for i in range(0, len(entries), _ENTRY)
    )
    if len(pins.circuits) != count:
        raise PinFormatError("the list repeats a circuit")
    if pins.digest != items[0][1].hex():
        raise PinFormatError("the listed circuits do not hash to the committed digest")
    return pins


def _field(entry: Any) -> tuple[str, bytes]:
    """(variant, payload bytes) of one decoded ``Data`` field; unit variants have no bytes."""
    if isinstance(entry, str):
        return entry, b""
    if not isinstance(entry, dict) or len(entry) != 1:
        raise PinFormatError(f"a commitment field is not a one-variant value: {entry!r:.80}")
    ((variant, value),) = entry.items()
    return str(variant), _bytes(value)


def _bytes(value: Any) -> bytes:
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    if isinstance(value, str):
        try:
            return bytes.fromhex(value.removeprefix("0x"))
        except ValueError:
            raise PinFormatError(f"a commitment field is not hex: {value!r:.80}") from None
    if isinstance(value, (list, tuple)) and all(isinstance(b, int) and 0 <= b < 256 for b in value):
        return bytes(value)
    raise PinFormatError(f"a commitment field holds no bytes: {value!r:.80}")
