"""The devnet's implementation of bittensor's ``Substrate`` protocol.

``bt.Client(network, substrate=DevnetSubstrate(store))`` runs the real SDK
(intents, executor, reads, metagraph decoding) against the SQLite state.

Contract highlights (see ``bittensor._substrate.Substrate``):

- Reads return plain decoded values and never change the file (each runs in a
  transaction that applies the epochs due at its block, then rolls back; see
  ``store``). Block hashes encode the block number;
  reads at a past block are served from the *current* state (no history).
- ``compose`` accepts only the calls the devnet models; anything else raises
  ``ChainError`` there, before signing.
- ``submit`` checks the signature: it asks the signer the SDK hands over to
  sign the call bytes and verifies that signature against the address the
  signer claims (sr25519/ed25519 via bittensor_core). The verified address is
  the call's origin. A failed check or a pallet rejection returns
  ``ExtrinsicResult(success=False, error=ChainError(...))`` and writes nothing.
- Building one installs ``timelock``'s wrapper around the SDK's commit encryption (in
  this process, once): a timelocked commit it submits gets its plaintext stored beside
  the ciphertext, which is how the devnet reveals without drand (see ``timelock``).
- Unsupported surfaces (offline signing, multisig, MEV shield, SCALE decoding)
  raise ``ChainError`` naming the devnet.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import sqlite3
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, NoReturn, Optional

from bittensor.balance import Balance
from bittensor.result import ChainError, ExtrinsicResult, RpcConnectionError
from bittensor.signing import Signer
from bittensor.sp_core import Keypair

from . import runtime, storage, timelock
from .store import Store

__all__ = ["DevnetSubstrate", "DevnetCall", "SPEC_VERSION"]

SPEC_VERSION = 0  # the devnet is no real runtime; nothing should gate on it


@dataclass(frozen=True)
class DevnetCall:
    """A composed call: the generated ``(module, function, params)`` plus canonical bytes."""

    module: str
    function: str
    params: dict[str, Any]

    @property
    def call_module(self) -> str:
        return self.module

    @property
    def call_function(self) -> str:
        return self.function

    @property
    def value(self) -> dict[str, Any]:
        return {
            "call_module": self.module,
            "call_function": self.function,
            "call_args": [{"name": k, "value": v} for k, v in self.params.items()],
        }

    @property
    def data(self) -> bytes:
        body = {"module": self.module, "function": self.function, "params": self.params}
        return json.dumps(body, sort_keys=True, default=_json_default).encode()


def _json_default(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray)):
        return "0x" + bytes(value).hex()
    return str(value)


def _block_hash(block: int) -> str:
    return "0x" + format(block, "064x")


def _unsupported(what: str) -> ChainError:
    return ChainError(f"the devnet does not support {what}", "DevnetUnsupported")


class DevnetSubstrate:
    """A ``Substrate`` backed by a devnet :class:`Store` (one per client)."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self.token_symbols: dict[int, str] = {}
        timelock.install()

    # Display ---------------------------------------------------------------------

    def balance(self, rao: int, netuid: int = 0) -> Balance:
        symbol = self.token_symbols.get(netuid) if netuid else None
        return Balance(int(rao), netuid, symbol)

    # Lifecycle -------------------------------------------------------------------

    async def connect(self) -> None:
        return None

    async def close(self) -> None:
        """Close the store connection (a substrate serves one client lifetime)."""
        self._store.close()

    # Reads -----------------------------------------------------------------------

    @contextlib.contextmanager
    def _state(self, *, write: bool = False) -> Iterator[tuple[sqlite3.Connection, int]]:
        """One transaction at the current block, due epochs applied; yields (conn, block).

        A read (the default) is rolled back, so it never changes the file; a
        write commits (see ``store``). SQLite failures (locked past the busy
        timeout, unreadable file) surface as ``RpcConnectionError``, the SDK's
        "the chain did not answer" error.
        """
        try:
            with self._store.write() if write else self._store.read() as state:
                yield state
        except sqlite3.Error as error:
            raise RpcConnectionError(f"devnet state {self._store.path}: {error}") from error

    async def block_hash(self, block: Optional[int] = None) -> str:
        return _block_hash(self._store.block() if block is None else int(block))

    async def block_number(self) -> int:
        return self._store.block()

    async def finalized_block_number(self) -> int:
        return self._store.block()

    async def block_time(self) -> float:
        return self._store.block_time()

    async def spec_version(self) -> int:
        return SPEC_VERSION

    async def get_block(
        self, block_number: Optional[int] = None, block_hash: Optional[str] = None
    ) -> Optional[dict[str, Any]]:
        if block_number is None:
            block_number = int(block_hash, 16) if block_hash else self._store.block()
        if block_number > self._store.block():
            return None
        header = {"number": block_number, "hash": _block_hash(block_number)}
        header["parentHash"] = _block_hash(max(0, block_number - 1))
        return {"header": header, "extrinsics": []}

    async def query(
        self,
        module: str,
        storage_function: str,
        params: Optional[list[Any]] = None,
        block_hash: Optional[str] = None,
    ) -> Any:
        if (module, storage_function) == ("Timestamp", "Now"):
            return int(self._store.now() * 1000)
        with self._state() as (conn, block):
            try:
                return storage.query(conn, block, module, storage_function, params or [])
            except KeyError:
                raise _unsupported(f"storage {module}.{storage_function}") from None

    async def map_has_entries(
        self, module: str, storage_function: str, params: list[Any], block_hash: Optional[str] = None
    ) -> bool:
        return bool(await self.query_map(module, storage_function, params, block_hash))

    async def query_map(
        self,
        module: str,
        storage_function: str,
        params: Optional[list[Any]] = None,
        block_hash: Optional[str] = None,
    ) -> list[tuple[Any, Any]]:
        with self._state() as (conn, _block):
            try:
                return storage.query_map(conn, module, storage_function, params or [])
            except KeyError:
                raise _unsupported(f"storage map {module}.{storage_function}") from None

    async def query_batch(
        self,
        module: str,
        storage_function: str,
        param_sets: list[list[Any]],
        block_hash: Optional[str] = None,
    ) -> list[Any]:
        return [await self.query(module, storage_function, p, block_hash) for p in param_sets]

    async def runtime_call(
        self, api: str, method: str, params: list[Any], block_hash: Optional[str] = None
    ) -> Any:
        with self._state() as (conn, block):
            try:
                return storage.runtime_call(conn, block, api, method, params)
            except KeyError:
                raise _unsupported(f"runtime API {api}.{method}") from None

    async def constant(self, module: str, name: str) -> NoReturn:
        raise _unsupported(f"constant {module}.{name}")

    async def decode_scale(self, type_string: str, data: object) -> NoReturn:
        raise _unsupported("SCALE decoding")

    async def blocks(self, *, finalized: bool = False) -> AsyncIterator[dict[str, Any]]:
        """Yield each new block header, polling at a quarter of the block time."""
        last = self._store.block()
        while True:
            await asyncio.sleep(self._store.block_time() / 4)
            now = self._store.block()
            for number in range(last + 1, now + 1):
                yield {"header": {"number": number, "parentHash": _block_hash(number - 1)}}
            last = max(last, now)

    async def events(self, block_hash: Optional[str] = None) -> list[dict[str, Any]]:
        return []

    # Calls and fees --------------------------------------------------------------

    async def compose(self, call: tuple[str, str, Mapping[str, Any]]) -> DevnetCall:
        """``call`` is the SDK's generated ``Call``: a ``(module, function, params)`` tuple."""
        module, function, params = call
        if (module, function) not in runtime.SUPPORTED_CALLS:
            raise _unsupported(f"the call {module}.{function}")
        return DevnetCall(module, function, dict(params))

    async def estimate_fee(self, call: object, keypair: object) -> Balance:
        return Balance.from_rao(0)

    async def estimate_weight(self, call: object, keypair: object) -> dict[str, int]:
        return {"ref_time": 0, "proof_size": 0}

    async def account_next_index(self, address: str) -> int:
        return 0

    # Writes ----------------------------------------------------------------------

    async def mev_next_key(self) -> Optional[bytes]:
        return None

    async def sign_extrinsic(self, call: object, keypair: object, *, nonce: int, period: int) -> NoReturn:
        raise _unsupported("MEV-shielded submission")

    async def find_extrinsic(self, extrinsic_hash: str, block_hash: str) -> None:
        return None

    async def prepare(self, call: object, *, address: str, **_kwargs: object) -> NoReturn:
        raise _unsupported("out-of-process signing")

    async def submit_signature(self, unsigned: object, signature: object, **_kwargs: object) -> NoReturn:
        raise _unsupported("out-of-process signing")

    async def submit(
        self,
        call: DevnetCall | tuple[str, str, Mapping[str, Any]],
        keypair: Signer,
        *,
        nonce: Optional[int] = None,
        period: Optional[int] = None,
        wait_for_inclusion: bool = True,
        wait_for_finalization: bool = True,
    ) -> ExtrinsicResult:
        """Verify the signer, dispatch the call in one transaction, report the outcome."""
        if not isinstance(call, DevnetCall):
            call = await self.compose(call)
        origin = keypair.ss58_address
        payload = b"devnet-extrinsic:" + origin.encode() + b":" + call.data
        try:
            signature = keypair.sign(payload)
            if inspect.isawaitable(signature):
                signature = await signature
            claimed = Keypair(ss58_address=origin, crypto_type=getattr(keypair, "crypto_type", 1))
            verified = claimed.verify(payload, bytes(signature))
        except Exception as error:  # a signer that cannot sign is a failed submission
            reason = str(error).strip() or type(error).__name__
            return _failure(
                "BadSigner",
                f"the signer for {origin} could not sign ({reason}); an encrypted coldkey needs "
                "its password: type it at the prompt or set BT_WALLET_PASSWORD",
            )
        if not verified:
            return _failure("BadProof", f"the signature does not match {origin}")
        try:
            with self._state(write=True) as (conn, block):
                events = runtime.dispatch(
                    conn, block, call.module, call.function, call.params, origin
                )
                if call.function in _TIMELOCKED_COMMITS:
                    _attach_plaintext(conn, call.params, origin)
        except runtime.DispatchError as error:
            return _failure(error.name, error.docs)
        except (KeyError, TypeError, ValueError) as error:  # malformed call parameters
            return _failure("InvalidCall", f"{call.module}.{call.function}: bad parameter {error}")
        return ExtrinsicResult(
            success=True,
            message="Success",
            block_hash=_block_hash(block),
            extrinsic_id=f"{block}-0001",
            fee=Balance.from_rao(0),
            events=events,
        )

    async def submit_signed(self, extrinsic: object, keypair: object, **_kwargs: object) -> NoReturn:
        raise _unsupported("pre-signed extrinsics")

    def multisig_account(self, signatories: list[str], threshold: int) -> NoReturn:
        raise _unsupported("multisig")

    async def submit_multisig(
        self, call: object, keypair: object, multisig_account: object, **_kwargs: object
    ) -> NoReturn:
        raise _unsupported("multisig")


_TIMELOCKED_COMMITS = frozenset({"commit_timelocked_mechanism_weights", "commit_timelocked_weights"})


def _attach_plaintext(conn: sqlite3.Connection, params: Mapping[str, Any], origin: str) -> None:
    """Store what this process encrypted into the commit just dispatched, if it did."""
    ciphertext = runtime.commit_bytes(params["commit"])
    plaintext = timelock.recall(ciphertext)
    if plaintext is not None:
        runtime.record_plaintext(
            conn, int(params["netuid"]), origin, ciphertext, list(plaintext.uids),
            list(plaintext.values), plaintext.version_key, plaintext.hotkey,
        )


def _failure(name: str, docs: str) -> ExtrinsicResult:
    message = f"{name}: {docs}"
    return ExtrinsicResult(success=False, message=message, error=ChainError(message, name))
