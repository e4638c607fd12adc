"""The chain client the neurons use, on top of the bittensor 11 SDK's ``Client``.

- :func:`connect` resolves a network name (``finney``, ``test``, ``local``, or
  a ``ws://``/``wss://`` URL) to a connected :class:`Chain` through the SDK's
  RPC backend. ``substrate=`` hands in any ``bittensor.Substrate`` instead:
  that is how the devnet (``neurons.devnet.connect_devnet``) and tests attach.
- Reads raise :class:`~neurons.chain.errors.ChainFailure` leaves; writes never
  raise for chain-side failures: they return :class:`WriteResult` with one
  readable error line.
- Connection errors are retried with exponential backoff; rejections are not.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shlex
from pathlib import Path
from typing import Any, Awaitable, Callable, TypeVar

import bittensor as bt
from bittensor.result import BittensorError, ChainError, ErrorCode, RpcConnectionError
from bittensor.signing import public_view

from neurons.chain.errors import (
    ChainReadFailed,
    ChainUnreachable,
    UnknownNetwork,
    UnknownSubnet,
)
from neurons.chain.types import Commitment, CommitReveal, MetagraphView, NeuronInfo, WriteResult

__all__ = ["NETWORKS", "Chain", "connect"]

log = logging.getLogger(__name__)

NETWORKS = ("devnet", "finney", "test", "local")
# Retried: the transport's own error, socket errors, timeouts. Local file errors
# (a missing key file is an OSError too) are not connection errors.
_CONNECTION_ERRORS = (RpcConnectionError, OSError, asyncio.TimeoutError)
_LOCAL_OS_ERRORS = (FileNotFoundError, PermissionError, IsADirectoryError, NotADirectoryError)
_T = TypeVar("_T")
# subtensor's DefaultSubnetOwner: the all-zero account (ss58 format 42), what SubnetOwnerHotkey
# reads for a subnet that has no owner.
_NO_OWNER = "5C4hrfjw9DjXZTzV3MwzrrAr9P1MJhSrvWGWqi1eSuyUpnhM"


async def connect(
    network: str,
    *,
    substrate: bt.Substrate | None = None,
    devnet_state: Path | None = None,
    timeout: float = 10.0,
    retries: int = 2,
) -> Chain:
    """A connected :class:`Chain` for ``network``.

    Real networks use the SDK's RPC backend pinned to the one endpoint (no
    public fallbacks for ``local`` or URLs), giving up after ``timeout`` seconds
    with :class:`ChainUnreachable`. ``substrate`` overrides the backend for any
    network name; ``devnet`` needs one (``neurons.devnet.connect_devnet``
    builds it), and ``devnet_state`` (a non-default devnet state path) is then
    named in the "subnet does not exist" hint. Raises :class:`UnknownNetwork`
    for other names.
    """
    if network not in NETWORKS and not network.startswith(("ws://", "wss://")):
        raise UnknownNetwork(
            f"unknown network {network!r}; use one of {', '.join(NETWORKS)} "
            "or a ws:// / wss:// endpoint"
        )
    if substrate is not None:
        client = bt.Client(network, substrate=substrate)
    elif network == "devnet":
        raise UnknownNetwork(
            "the devnet has no endpoint: open it with neurons.devnet.connect_devnet "
            "(the daemons do so for --subtensor.network devnet)"
        )
    else:
        # Pinned to the one endpoint: a local node or a URL must not fall back to public ones.
        pinned: list[str] | None = [] if network == "local" or network.startswith("ws") else None
        client = bt.Client(network, fallback_endpoints=pinned, archive_endpoints=pinned)
    try:
        await asyncio.wait_for(client.connect(), timeout)
    except (RpcConnectionError, OSError, asyncio.TimeoutError, ConnectionError) as error:
        with contextlib.suppress(Exception):  # best effort: the connection never opened
            await client.close()
        detail = str(error).strip().splitlines()[0] if str(error).strip() else "no answer"
        where = network if network == client.endpoint else f"{network} at {client.endpoint}"
        raise ChainUnreachable(
            f"cannot reach {where} within {timeout:g}s ({detail}); "
            "check the node is running and the URL, or use --subtensor.network devnet"
        ) from None
    return Chain(client, network=network, retries=retries, devnet_state=devnet_state)


class Chain:
    """:class:`ChainAccess` over a connected ``bittensor.Client``.

    ``retries`` extra attempts (backoff ``backoff * 2**n`` seconds) are made on
    connection errors only; ``sleep`` is injectable for tests. ``devnet_state``
    (a non-default devnet state path) is named in the create-subnet hint.
    """

    def __init__(
        self,
        client: bt.Client,
        *,
        network: str,
        retries: int = 2,
        backoff: float = 0.5,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        devnet_state: Path | None = None,
    ) -> None:
        self.client = client
        self.network = network
        self.devnet_state = devnet_state
        self._retries = retries
        self._backoff = backoff
        self._sleep = sleep

    async def _retry(self, op: Callable[[], Awaitable[_T]]) -> _T:
        """Run ``op``; retry connection errors, then raise ChainUnreachable."""
        for attempt in range(self._retries + 1):
            try:
                return await op()
            except _CONNECTION_ERRORS as error:
                if isinstance(error, _LOCAL_OS_ERRORS):
                    raise
                if attempt == self._retries:
                    raise ChainUnreachable(
                        f"lost the connection to {self.network} ({_line(error)}); "
                        "check the node and the network, then restart"
                    ) from None
                log.warning("chain connection error (attempt %d): %s", attempt + 1, _line(error))
                await self._sleep(self._backoff * 2**attempt)
        raise AssertionError("unreachable")

    async def _read(self, op: Callable[[], Awaitable[_T]]) -> _T:
        try:
            return await self._retry(op)
        except ChainError as error:
            raise ChainReadFailed(f"{self.network} rejected a read: {_line(error)}") from None

    async def block(self) -> int:
        return int(await self._read(self.client.block))

    async def metagraph(self, netuid: int) -> MetagraphView:
        """The subnet's neurons, tempo and weight limits, from ``client.subnets.metagraph``
        (one runtime call, no commitments)."""
        graph = await self._read(lambda: self.client.subnets.metagraph(netuid, commitments=False))
        if graph is None:
            raise UnknownSubnet(_no_subnet(netuid, self.network, self.devnet_state))
        raw_max = graph.raw.get("max_weights_limit")
        return MetagraphView(
            netuid=netuid,
            block=int(graph.block),
            tempo=int(graph.tempo),
            # The hyperparameters ride in the same runtime record (the SDK leaves them in raw).
            min_allowed_weights=int(graph.raw.get("min_allowed_weights") or 0),
            # None (an absent field) is no limit; 0 is a real, if odd, limit.
            max_weights_limit=int(65535 if raw_max is None else raw_max),
            neurons=tuple(
                NeuronInfo(
                    uid=n.uid,
                    hotkey=n.hotkey,
                    coldkey=n.coldkey,
                    stake=int(n.total_stake.rao) / 1e9,
                    validator_permit=n.validator_permit,
                    axon=_split_axon(n.axon),
                    incentive=float(n.incentive),
                    last_update=int(n.last_update),
                    registered_at=int(n.block_at_registration),
                )
                for n in graph.neurons
            ),
        )

    async def uid_of(self, netuid: int, hotkey: str) -> int | None:
        """The hotkey's uid on ``netuid`` (one storage read), None when not registered."""
        uid = await self._read(lambda: self.client.query(_st("Uids"), [netuid, hotkey]))
        return None if uid is None else int(uid)

    async def weights_version_key(self, netuid: int) -> int:
        """The subnet's ``WeightsVersionKey``: the chain rejects weights whose version key is
        below it (one storage read; ``UnknownSubnet`` when there is no such subnet)."""
        value = await self._read(lambda: self.client.query(_st("WeightsVersionKey"), [netuid]))
        if value is None:
            raise UnknownSubnet(_no_subnet(netuid, self.network, self.devnet_state))
        return int(value)

    async def weights_of(self, netuid: int, uid: int) -> dict[int, float]:
        """The weights ``uid`` last set, as the chain stored them, normalised to sum 1.

        :meth:`weights_row` divided by its sum (the SDK's ``client.weights.weights``
        normalises whole rows the same way); an empty dict when the uid never set weights.
        """
        row = await self.weights_row(netuid, uid)
        total = sum(row.values())
        return {dest: value / total for dest, value in row.items()} if total else {}

    async def weights_row(self, netuid: int, uid: int) -> dict[int, int]:
        """``Weights[netuid, uid]`` exactly as stored: destination uid to u16 value.

        One storage read of the mechanism-0 row (its storage index is the netuid).
        Subtensor stores the values max-upscaled (``subnets/weights.rs::
        internal_set_weights``, ``vec_u16_max_upscale_to_u16``), and the SDK
        submits them already max-upscaled (``bittensor.intents.weights.normalize``),
        so a row that landed equals the u16 values submitted. {} when the uid has
        no row (it never set weights, or its row was cleared).
        """
        row = await self._read(lambda: self.client.query(_st("Weights"), [netuid, uid]))
        return {int(dest): int(value) for dest, value in row or []}

    async def commit_reveal(self, netuid: int) -> CommitReveal:
        """The subnet's ``CommitRevealWeightsEnabled`` and ``RevealPeriodEpochs``, through the
        SDK's own reads (``client.subnets.commit_reveal_enabled``,
        ``client.hyperparameters.reveal_period``): two storage reads."""
        enabled = await self._read(lambda: self.client.subnets.commit_reveal_enabled(netuid))
        period = await self._read(lambda: self.client.hyperparameters.reveal_period(netuid))
        return CommitReveal(enabled=bool(enabled), reveal_period_epochs=int(period))

    async def subnet_owner_hotkey(self, netuid: int) -> str | None:
        """``SubnetOwnerHotkey[netuid]`` (one storage read); None when it is the chain's default,
        the all-zero account (no such subnet, or one without an owner)."""
        value = await self._read(lambda: self.client.query(_st("SubnetOwnerHotkey"), [netuid]))
        return None if not value or str(value) == _NO_OWNER else str(value)

    async def commitment(self, netuid: int, hotkey: str) -> Commitment | None:
        """``hotkey``'s ``Commitments.CommitmentOf`` entry on ``netuid`` through the SDK's
        ``client.identity.commitment`` (one storage read); None when it committed nothing."""
        found = await self._read(lambda: self.client.identity.commitment(netuid, hotkey))
        if found is None:
            return None
        return Commitment(hotkey=hotkey, block=int(found.block), fields=tuple(found.fields))

    async def set_commitment(self, wallet: bt.Wallet, netuid: int, fields: list[Any]) -> WriteResult:
        """Commit ``fields`` (``CommitmentInfo.fields``, one-key dicts of bytes such as
        ``{"Sha256": b"…"}``) for the wallet's hotkey on ``netuid``: the Commitments pallet's
        ``set_commitment``, a raw call signed by the hotkey (no SDK intent wraps it). The chain
        allows it to a hotkey registered on the subnet, at most 3 fields and 3,100 bytes per
        epoch; its refusal is ``ok=False`` with the chain's reason."""
        call = bt.calls.Commitments.set_commitment(netuid=netuid, info={"fields": fields})
        return await self._write(call, wallet, op="set_commitment", signer="hotkey")

    async def serve_axon(self, wallet: bt.Wallet, netuid: int, ip: str, port: int) -> WriteResult:
        """Publish ``ip:port`` for the wallet's hotkey (the caller supplies the external IP)."""
        try:
            intent = bt.ServeAxon(netuid=netuid, ip=ip, port=port)
        except (ValueError, BittensorError) as error:
            return WriteResult(ok=False, error=f"serve_axon: {_line(error)}")
        return await self.submit(intent, wallet)

    async def submit(self, intent: bt.Intent, wallet: bt.Wallet) -> WriteResult:
        """Sign and submit ``intent`` exactly as built, through ``bt.Client.execute``.

        The one place intents reach the chain; it reads nothing of its own.
        What an intent needs checked before signing, the SDK checks inside
        ``execute``, once. For ``bt.SetWeights`` that preflight reads, at one
        pinned block, the hotkey's ``Uids`` entry, ``WeightsSetRateLimit``,
        ``LastUpdate``, ``CommitRevealWeightsEnabled``, ``MinAllowedWeights``,
        ``MaxWeightsLimit`` and ``SubnetEpochConsensus``; refuses a hotkey not
        registered on the subnet; and applies the chain's rate-limit rule
        (allowed once ``block - LastUpdate[uid] >= WeightsSetRateLimit``). It
        cannot be skipped (it is part of building the call, which also picks
        plaintext or commit-reveal and conforms the weights to the subnet), so
        it is *the* rate-limit decision: neither this class nor the validator
        reads the rate limit. Its refusal is ``WriteResult(ok=False,
        rate_limited=True)`` carrying the SDK's line ("... Retry in ~N blocks
        ..."); nothing is signed. (The SDK's plan preview inside ``execute``
        then reads ``CommitRevealWeightsEnabled`` and ``MaxWeightsLimit`` a
        second time: two repeats this does not bypass ``execute`` to avoid.)

        A write that landed is ``ok`` with its ``block``; a weight write the SDK sent
        as a timelocked commit (commit-reveal on) also carries its ``reveal_round``
        (the SDK returns it in the result's data): the weights are then not in
        ``Weights`` until the chain reveals them.

        Every other failure is ``ok=False`` with one line: a chain rejection
        ("<op> rejected: <the chain's message>"), another refusal before
        signing ("<op>: ..."), or a lost connection (retried first, as reads
        are).
        """
        return await self._write(intent, wallet)

    async def register(self, wallet: bt.Wallet, netuid: int) -> WriteResult:
        """Register the wallet's hotkey on ``netuid`` by burn, signed by the coldkey.

        Submits ``SubtensorModule.burned_register`` as a raw call (the SDK's
        ``BurnedRegister`` intent routes through the MEV shield).
        """
        hotkey = _hotkey_address(wallet)
        if isinstance(hotkey, WriteResult):
            return hotkey
        call = bt.calls.SubtensorModule.burned_register(netuid=netuid, hotkey=hotkey)
        return await self._write(call, wallet, op="register")

    async def add_stake(self, wallet: bt.Wallet, netuid: int, amount_tao: float) -> WriteResult:
        """Stake ``amount_tao`` from the wallet's coldkey to its hotkey on ``netuid``."""
        hotkey = _hotkey_address(wallet)
        if isinstance(hotkey, WriteResult):
            return hotkey
        rao = int(round(amount_tao * 10**9))
        call = bt.calls.SubtensorModule.add_stake(hotkey=hotkey, netuid=netuid, amount_staked=rao)
        return await self._write(call, wallet, op="add_stake")

    async def _write(
        self, intent: Any, wallet: bt.Wallet, *, op: str | None = None, signer: str = "coldkey"
    ) -> WriteResult:
        """Execute one intent (or, with ``op``, submit one raw call signed by ``signer``).

        Every failure becomes ``WriteResult(ok=False)``; only connection errors
        are retried. An SDK preflight's ``RATE_LIMITED`` refusal is flagged
        ``rate_limited`` (see :meth:`submit`).
        """
        if op is None:
            op = intent.op
            submit = lambda: self.client.execute(intent, wallet)  # noqa: E731
        else:
            submit = lambda: self.client.submit_call(intent, wallet, signer=signer)  # noqa: E731
        try:
            result = await self._retry(submit)
        except ChainUnreachable as error:
            return WriteResult(ok=False, error=str(error))
        except (BittensorError, ValueError, FileNotFoundError) as error:
            if isinstance(error, ChainError) and error.code == ErrorCode.RATE_LIMITED:
                return WriteResult(ok=False, error=f"rate limited: {_line(error)}", rate_limited=True)
            return WriteResult(ok=False, error=f"{op}: {_line(error)}")
        if not result.success:
            return WriteResult(ok=False, error=f"{op} rejected: {self._reason(result)}")
        # The SDK's SetWeights adds the drand round to the result's data exactly when it
        # built a timelocked commit (intents/weights.py::_build_timelocked).
        reveal_round = (getattr(result, "data", None) or {}).get("reveal_round")
        return WriteResult(
            ok=True, block=_included_block(result),
            reveal_round=None if reveal_round is None else int(reveal_round),
        )

    def _reason(self, result: Any) -> str:
        """One line: the chain's message, plus the SDK's remediation on real networks."""
        error = result.error
        reason = _line(error.message if error is not None else result.message)
        if self.network == "devnet" or error is None or error.code == ErrorCode.UNKNOWN:
            return reason  # devnet messages carry their own devnet-specific hint
        return f"{reason} ({error.remediation})"

    async def close(self) -> None:
        await self.client.close()


def _no_subnet(netuid: int, network: str, devnet_state: Path | None = None) -> str:
    if network == "devnet":
        state = f" --state {shlex.quote(str(devnet_state))}" if devnet_state else ""
        hint = (
            "check --netuid, or create it: python -m neurons.devnet create-subnet "
            f"--netuid {netuid}{state}"
        )
    else:
        hint = "check --netuid and --subtensor.network"
    return f"subnet {netuid} does not exist on {network}; {hint}"


def _st(item: str) -> tuple[str, str]:
    return ("SubtensorModule", item)


def _line(error: object) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def _split_axon(axon: str | None) -> tuple[str, int] | None:
    if not axon:
        return None
    host, _, port = axon.rpartition(":")
    return host.strip("[]"), int(port)


def _hotkey_address(wallet: bt.Wallet) -> str | WriteResult:
    """The wallet's hotkey ss58 (public view, no unlock), or a failed WriteResult."""
    try:
        return str(public_view(wallet, "hotkey").ss58_address)
    except (OSError, BittensorError, AttributeError, ValueError) as error:
        return WriteResult(ok=False, error=f"cannot read the wallet's hotkey: {_line(error)}")


def _included_block(result: Any) -> int | None:
    height, _, _ = (result.extrinsic_id or "").partition("-")
    return int(height) if height.isdigit() else None
