"""Lightweight stand-in miners for the validator benchmark: ``python -m bench.standin_miners SPEC``.

One process serves every stand-in of a round, one asyncio listener per uid, so their CPU
is not the validator's. ``SPEC`` is a JSON file (:class:`Spec`): the wallet folder, the
proof cache files, the address, and per uid its hotkey, port and behaviour:

- ``answer``: ``POST`` :data:`protocol.ROUTE_PROVE` is answered 200 with a ``ProofResponse``
  carrying the precomputed proof of exactly the request's inputs, signed by the uid's hotkey
  and bound to the request as the real miner's app binds it
  (``neurons.mining.guard.sign_response`` over the request's nonce, to the caller's hotkey);
  inputs with no precomputed proof are a 500 ``internal`` (the validator records an
  ``http_error``, so a broken precompute shows in the outcome counts). ``GET``
  :data:`protocol.ROUTE_CAPABILITIES` is answered with the served circuits in one lane, as
  a miner with one prover worker announces them;
- ``silent``: the connection is accepted and the request read, and nothing is ever sent
  (the validator waits out its timeout);
- ``refuse``: nothing listens on the port (connection refused).

The stand-ins do not check request signatures or the caller's stake (a real miner does;
that is miner CPU, not the validator's). Prints ``standins ready`` once every listener is up;
SIGINT or SIGTERM stops it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
from dataclasses import dataclass
from pathlib import Path

import bittensor as bt

from bench.round_proofs import CachedProof, input_key
from neurons.chain import load_wallet
from neurons.mining.guard import claimed_hotkey, claimed_nonce, sign_response
from neurons.shared.nonces import NonceClock
from protocol import (
    ROUTE_CAPABILITIES,
    ROUTE_PROVE,
    Capabilities,
    ErrorCode,
    ErrorResponse,
    Lane,
    ProofRequest,
    ProofResponse,
    ProtocolError,
    decode,
    encode,
)

__all__ = ["StandIn", "Spec", "Answers", "serve"]

BEHAVIOURS = ("answer", "silent", "refuse")


@dataclass(frozen=True)
class StandIn:
    uid: int
    wallet: str  # wallet name; hotkey name in ``hotkey``
    hotkey: str
    port: int
    behaviour: str  # one of BEHAVIOURS


@dataclass(frozen=True)
class Spec:
    wallets: Path
    host: str
    proof_files: tuple[Path, ...]
    standins: tuple[StandIn, ...]

    def to_json(self) -> str:
        return json.dumps({"wallets": str(self.wallets), "host": self.host,
                           "proof_files": [str(p) for p in self.proof_files],
                           "standins": [vars(s) for s in self.standins]})

    @classmethod
    def from_json(cls, text: str) -> Spec:
        data = json.loads(text)
        return cls(Path(data["wallets"]), data["host"], tuple(Path(p) for p in data["proof_files"]),
                   tuple(StandIn(**s) for s in data["standins"]))


class Answers:
    """What an answering stand-in sends: for a request, the (status, body, headers) of its answer."""

    def __init__(self, proofs: list[CachedProof], signer: bt.Signer) -> None:
        self._proofs = {input_key(p.inputs): p for p in proofs}
        self._circuits = tuple(sorted({p.proof.circuit_id for p in proofs}))
        self._signer = signer
        self._nonces = NonceClock()

    def respond(self, method: str, path: str, headers: dict[str, str], body: bytes) -> tuple[int, bytes, dict[str, str]]:
        if path == ROUTE_CAPABILITIES:
            message: ProofResponse | Capabilities | ErrorResponse = Capabilities(
                circuits=self._circuits, max_concurrent=1, max_queue=4,
                lanes=(Lane(circuits=self._circuits, max_concurrent=1, max_queue=4),))
        elif path == ROUTE_PROVE and method == "POST":
            message = self._prove(body)
        else:
            message = ErrorResponse(code=ErrorCode.NOT_FOUND, message=f"no route {method} {path}")
        status = message.code.http_status if isinstance(message, ErrorResponse) else 200
        payload = encode(message)
        signed = sign_response(self._signer, route=path, request_nonce=claimed_nonce(headers), body=payload,
                               receiver=claimed_hotkey(headers), nonce_ns=self._nonces())
        return status, payload, signed

    def _prove(self, body: bytes) -> ProofResponse | ErrorResponse:
        try:
            request = decode(ProofRequest, body, max_bytes=1 << 20)
        except ProtocolError as error:
            return ErrorResponse(code=ErrorCode.INVALID_REQUEST, message=str(error)[:500])
        cached = self._proofs.get(input_key(request.inputs))
        if cached is None or cached.proof.circuit_id != request.circuit_id:
            return ErrorResponse(code=ErrorCode.INTERNAL, message="stand-in has no precomputed proof of these inputs")
        return ProofResponse(request_id=request.request_id, circuit_id=request.circuit_id, outputs=cached.outputs,
                             proof=cached.proof.proof, instances=cached.proof.instances, queue_s=0.0,
                             prove_s=cached.prove_s)


async def _read_request(reader: asyncio.StreamReader) -> tuple[str, str, dict[str, str], bytes] | None:
    line = await reader.readline()
    if not line:
        return None
    method, target, _ = line.decode("latin-1").split(" ", 2)
    headers: dict[str, str] = {}
    while (header := await reader.readline()) not in (b"\r\n", b"\n", b""):
        name, _, value = header.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0") or 0)
    body = await reader.readexactly(length) if length else b""
    return method, target.split("?", 1)[0], headers, body


def _handler(answers: Answers | None):  # type: ignore[no-untyped-def]
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while (request := await _read_request(reader)) is not None:
                if answers is None:  # silent: hold the connection until the caller gives up
                    while await reader.read(65536):
                        pass
                    return
                status, payload, signed = answers.respond(*request)
                head = [f"HTTP/1.1 {status} {'OK' if status == 200 else 'Error'}",
                        "content-type: application/json", f"content-length: {len(payload)}",
                        *(f"{k}: {v}" for k, v in signed.items())]
                writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + payload)
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError, ValueError):
            pass
        finally:
            writer.close()

    return handle


async def serve(spec: Spec, stop: asyncio.Event, ready: asyncio.Event | None = None) -> None:
    """Listen for every ``answer`` and ``silent`` stand-in of ``spec`` until ``stop``."""
    proofs = [CachedProof.from_json(json.loads(p.read_text())) for p in spec.proof_files]
    servers = []
    for s in spec.standins:
        if s.behaviour == "refuse":
            continue
        answers = None
        if s.behaviour == "answer":
            wallet = load_wallet(s.wallet, s.hotkey, spec.wallets)
            answers = Answers(proofs, bt.resolve_signer(wallet, role="hotkey"))
        servers.append(await asyncio.start_server(_handler(answers), spec.host, s.port, backlog=64))
    if ready is not None:
        ready.set()
    print("standins ready", flush=True)
    try:
        await stop.wait()
    finally:
        for server in servers:
            server.close()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.standin_miners", description=__doc__.split("\n")[0])
    p.add_argument("spec", type=Path, help="The stand-ins' JSON spec (written by bench.validator_round).")
    args = p.parse_args(argv)
    spec = Spec.from_json(args.spec.read_text())

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await serve(spec, stop)

    asyncio.run(run())
    return 0


if __name__ == "__main__":
    sys.exit(main())
