"""The one chain module the neurons use.

Everything the miner and validator read from or write to a Bittensor chain
goes through here, on top of the bittensor 11 SDK's ``Client``:

- :func:`connect` resolves a network name (``devnet``, ``finney``, ``test``,
  ``local``, or a ``ws://``/``wss://`` URL) to a connected :class:`Chain`.
  ``devnet`` is the embedded SQLite chain in :mod:`neurons.devnet`; the others
  are real networks through the SDK's RPC backend. ``substrate=`` injects any
  ``bittensor.Substrate`` (tests pass a devnet one).
- Reads raise :class:`ChainFailure` leaves; writes never raise for chain-side
  failures: they return :class:`WriteResult` with one readable error line.
- Connection errors are retried with exponential backoff; rejections are not.

Errors (all ``ChainFailure``, ``str(e)`` is one line that says what to do):
``UnknownNetwork``, ``ChainUnreachable``, ``WalletMissing``, ``NotRegistered``,
``UnknownSubnet``, ``ChainReadFailed``; ``DevnetStateMissing`` is a
``ChainUnreachable``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shlex
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Awaitable, Callable, Mapping, Protocol, TypeVar

import bittensor as bt
from bittensor.result import BittensorError, ChainError, ErrorCode, RpcConnectionError
from bittensor.signing import public_view

__all__ = [
    "ChainFailure",
    "UnknownNetwork",
    "ChainUnreachable",
    "DevnetStateMissing",
    "WalletMissing",
    "NotRegistered",
    "UnknownSubnet",
    "ChainReadFailed",
    "NeuronInfo",
    "MetagraphView",
    "WriteResult",
    "ChainAccess",
    "Chain",
    "NETWORKS",
    "connect",
    "load_wallet",
    "require_registered",
    "register_command",
]

log = logging.getLogger(__name__)

NETWORKS = ("devnet", "finney", "test", "local")
# Retried: the transport's own error, socket errors, timeouts. Local file errors
# (a missing key file is an OSError too) are not connection errors.
_CONNECTION_ERRORS = (RpcConnectionError, OSError, asyncio.TimeoutError)
_LOCAL_OS_ERRORS = (FileNotFoundError, PermissionError, IsADirectoryError, NotADirectoryError)
_DEFAULT_WALLET_PATH = Path("~/.bittensor/wallets")
_T = TypeVar("_T")


class ChainFailure(Exception):
    """Root of the errors this module raises. ``str(e)`` is one line that says what to do."""


class UnknownNetwork(ChainFailure):
    """The network name is none of devnet, finney, test, local, or a ws(s):// URL."""


class ChainUnreachable(ChainFailure):
    """The chain endpoint did not answer."""


class DevnetStateMissing(ChainUnreachable):
    """No devnet state file at the path; connecting never creates one.

    Build it with :meth:`at`, whose message names the command that creates the chain.
    """

    @classmethod
    def at(cls, path: str | Path, netuid: int | None = None) -> "DevnetStateMissing":
        state = shlex.quote(str(Path(path).expanduser()))
        return cls(
            f"no devnet state at {state}; create it with python -m neurons.devnet --state {state} "
            f"create-subnet --netuid {'NETUID' if netuid is None else netuid} "
            "(or run neurons/localnet.py)"
        )


class WalletMissing(ChainFailure):
    """The wallet's coldkey or hotkey file does not exist."""


class NotRegistered(ChainFailure):
    """The hotkey has no uid on the netuid; the message names the btcli command to register."""


class UnknownSubnet(ChainFailure):
    """The netuid does not exist on this chain."""


class ChainReadFailed(ChainFailure):
    """The chain answered a read with an error."""


@dataclass(frozen=True)
class NeuronInfo:
    uid: int
    hotkey: str
    coldkey: str
    stake: float  # total stake in TAO (alpha on dynamic subnets, as the metagraph reports)
    validator_permit: bool
    axon: tuple[str, int] | None  # (ip, port) the neuron announced, None when not serving
    incentive: float
    last_update: int  # block of the neuron's last weight update


@dataclass(frozen=True)
class MetagraphView:
    netuid: int
    block: int
    neurons: tuple[NeuronInfo, ...]

    def by_uid(self, uid: int) -> NeuronInfo | None:
        for n in self.neurons:
            if n.uid == uid:
                return n
        return None

    def by_hotkey(self, hotkey: str) -> NeuronInfo | None:
        for n in self.neurons:
            if n.hotkey == hotkey:
                return n
        return None

    def uid_of(self, hotkey: str) -> int | None:
        n = self.by_hotkey(hotkey)
        return None if n is None else n.uid


@dataclass(frozen=True)
class WriteResult:
    """Outcome of a chain write. ``error`` is one readable line, set exactly when not ``ok``."""

    ok: bool
    error: str | None = None
    block: int | None = None


class ChainAccess(Protocol):
    """What the neurons need from a chain; ``Chain`` is the real one, tests may fake it."""

    async def block(self) -> int: ...

    async def metagraph(self, netuid: int) -> MetagraphView: ...

    async def serve_axon(self, wallet: object, netuid: int, ip: str, port: int) -> WriteResult: ...

    async def set_weights(
        self, wallet: object, netuid: int, weights: Mapping[int, float], version_key: int
    ) -> WriteResult: ...

    async def weights_rate_limit(self, netuid: int) -> int: ...

    async def tempo(self, netuid: int) -> int: ...

    async def weights_of(self, netuid: int, uid: int) -> dict[int, float]: ...

    async def close(self) -> None: ...


# --- connecting -------------------------------------------------------------------


async def connect(
    network: str,
    *,
    devnet_path: Path | None = None,
    netuid: int | None = None,
    create: bool = False,
    substrate: Any = None,
    timeout: float = 10.0,
    retries: int = 2,
) -> "Chain":
    """A connected :class:`Chain` for ``network``.

    ``devnet`` opens the embedded chain at ``devnet_path`` (default
    ``~/.bittensor/devnet/chain.sqlite``). An absent file raises
    :class:`DevnetStateMissing` (naming the create-subnet command for
    ``netuid``) and writes nothing, unless ``create`` is true (tests; users
    create a chain with ``python -m neurons.devnet create-subnet``). A
    non-default path is named in the "subnet does not exist" hint. Real networks use
    the SDK's RPC backend pinned to the one endpoint (no public fallbacks for
    ``local`` or URLs), giving up after ``timeout`` seconds with
    :class:`ChainUnreachable`. ``substrate`` overrides the backend for any
    network name (tests). Raises :class:`UnknownNetwork` for other names.
    """
    if network not in NETWORKS and not network.startswith(("ws://", "wss://")):
        raise UnknownNetwork(
            f"unknown network {network!r}; use one of {', '.join(NETWORKS)} "
            "or a ws:// / wss:// endpoint"
        )
    if substrate is None and network == "devnet":
        from neurons.devnet.store import DEFAULT_STATE_PATH, StateMissing, Store
        from neurons.devnet.substrate import DevnetSubstrate

        path = Path(devnet_path or DEFAULT_STATE_PATH).expanduser()
        try:
            substrate = DevnetSubstrate(Store(path, create=create))
        except StateMissing:
            raise DevnetStateMissing.at(path, netuid) from None
        except (OSError, sqlite3.Error) as error:
            raise ChainUnreachable(
                f"cannot open the devnet state {path} ({_line(error)}); "
                "point the devnet state path at a writable file"
            ) from None
    if substrate is not None:
        client = bt.Client(network, substrate=substrate)
    else:
        pinned = [] if network == "local" or network.startswith("ws") else None
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
    state = None
    if network == "devnet" and devnet_path is not None:
        from neurons.devnet.store import DEFAULT_STATE_PATH

        state = _non_default(devnet_path, DEFAULT_STATE_PATH)
    return Chain(client, network=network, retries=retries, devnet_state=state)


def register_command(
    netuid: int,
    network: str,
    wallet_name: str,
    hotkey: str,
    *,
    wallet_path: str | Path | None = None,
    devnet_state: str | Path | None = None,
) -> str:
    """The command that registers ``hotkey`` on ``netuid``: btcli, or the devnet admin CLI.

    ``wallet_path`` and ``devnet_state`` are added to the command only when they
    differ from the defaults, so the line can be pasted as it is.
    """
    wallets = _non_default(wallet_path, _DEFAULT_WALLET_PATH)
    if network == "devnet":
        from neurons.devnet.store import DEFAULT_STATE_PATH

        state = _non_default(devnet_state, DEFAULT_STATE_PATH)
        return (
            f"python -m neurons.devnet register --netuid {netuid} "
            f"--wallet.name {wallet_name} --wallet.hotkey {hotkey}"
            + (f" --wallet.path {wallets}" if wallets else "")
            + (f" --state {state}" if state else "")
        )
    return f"btcli subnets register --netuid {netuid} -n {network} -w {wallet_name} -H {hotkey}" + (
        f" --wallet-path {wallets}" if wallets else ""
    )


def _non_default(path: str | Path | None, default: Path) -> Path | None:
    if path is None:
        return None
    path = Path(path).expanduser()
    return None if path == default.expanduser() else path


# --- the chain --------------------------------------------------------------------


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
        """The subnet's neurons, from ``client.subnets.metagraph`` (no commitments)."""
        graph = await self._read(lambda: self.client.subnets.metagraph(netuid, commitments=False))
        if graph is None:
            raise UnknownSubnet(_no_subnet(netuid, self.network, self.devnet_state))
        return MetagraphView(
            netuid=netuid,
            block=int(graph.block),
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
                )
                for n in graph.neurons
            ),
        )

    async def uid_of(self, netuid: int, hotkey: str) -> int | None:
        """The hotkey's uid on ``netuid`` (one storage read), None when not registered."""
        uid = await self._read(lambda: self.client.query(_st("Uids"), [netuid, hotkey]))
        return None if uid is None else int(uid)

    async def weights_rate_limit(self, netuid: int) -> int:
        return int(await self._subnet_value("WeightsSetRateLimit", netuid))

    async def tempo(self, netuid: int) -> int:
        return int(await self._subnet_value("Tempo", netuid))

    async def _subnet_value(self, item: str, netuid: int) -> Any:
        value = await self._read(lambda: self.client.query(_st(item), [netuid]))
        if value is None:
            raise UnknownSubnet(_no_subnet(netuid, self.network, self.devnet_state))
        return value

    async def weights_of(self, netuid: int, uid: int) -> dict[int, float]:
        """The weights ``uid`` last set, as the chain stored them, normalised to sum 1.

        One storage read (``Weights[netuid, uid]``: u16 values, max-upscaled); an
        empty dict when the uid never set weights.
        """
        row = await self._read(lambda: self.client.query(_st("Weights"), [netuid, uid]))
        pairs = [(int(dest), int(value)) for dest, value in row or []]
        total = sum(value for _, value in pairs)
        return {dest: value / total for dest, value in pairs} if total else {}

    async def serve_axon(self, wallet: object, netuid: int, ip: str, port: int) -> WriteResult:
        """Publish ``ip:port`` for the wallet's hotkey (the caller supplies the external IP)."""
        try:
            intent = bt.ServeAxon(netuid=netuid, ip=ip, port=port)
        except (ValueError, BittensorError) as error:
            return WriteResult(ok=False, error=f"serve_axon: {_line(error)}")
        return await self._write(intent, wallet)

    async def set_weights(
        self, wallet: object, netuid: int, weights: Mapping[int, float], version_key: int
    ) -> WriteResult:
        """Set weights via ``bt.SetWeights`` (commit-reveal when the subnet runs it).

        Checks, before signing: the hotkey is registered, and ``LastUpdate`` +
        ``WeightsSetRateLimit`` allow a write at the current block; either
        failure returns ``ok=False`` without submitting.
        """
        hotkey = _hotkey_address(wallet)
        if isinstance(hotkey, WriteResult):
            return hotkey
        try:
            uid = await self.uid_of(netuid, hotkey)
            if uid is None:
                return WriteResult(
                    ok=False, error=f"hotkey {hotkey} is not registered on netuid {netuid}"
                )
            limit = await self.weights_rate_limit(netuid)
            last = await self._read(lambda: self.client.query(_st("LastUpdate"), [netuid]))
            now = await self.block()
        except ChainFailure as error:
            return WriteResult(ok=False, error=str(error))
        last_set = int(last[uid]) if isinstance(last, (list, tuple)) and uid < len(last) else 0
        if limit and last_set > 0 and now - last_set < limit:
            wait = limit - (now - last_set)
            return WriteResult(
                ok=False,
                error=(
                    f"rate limited: weights were set at block {last_set}, the limit is "
                    f"{limit} blocks; retry in {wait} blocks"
                ),
                block=now,
            )
        try:
            intent = bt.SetWeights(netuid=netuid, weights=dict(weights), version_key=version_key)
        except (ValueError, BittensorError) as error:
            return WriteResult(ok=False, error=f"set_weights: {_line(error)}")
        return await self._write(intent, wallet)

    async def register(self, wallet: object, netuid: int) -> WriteResult:
        """Register the wallet's hotkey on ``netuid`` by burn, signed by the coldkey.

        Submits ``SubtensorModule.burned_register`` as a raw call (the SDK's
        ``BurnedRegister`` intent routes through the MEV shield).
        """
        hotkey = _hotkey_address(wallet)
        if isinstance(hotkey, WriteResult):
            return hotkey
        call = bt.calls.SubtensorModule.burned_register(netuid=netuid, hotkey=hotkey)
        return await self._write(call, wallet, op="register")

    async def add_stake(self, wallet: object, netuid: int, amount_tao: float) -> WriteResult:
        """Stake ``amount_tao`` from the wallet's coldkey to its hotkey on ``netuid``."""
        hotkey = _hotkey_address(wallet)
        if isinstance(hotkey, WriteResult):
            return hotkey
        rao = int(round(amount_tao * 10**9))
        call = bt.calls.SubtensorModule.add_stake(hotkey=hotkey, netuid=netuid, amount_staked=rao)
        return await self._write(call, wallet, op="add_stake")

    async def _write(self, intent: Any, wallet: object, *, op: str | None = None) -> WriteResult:
        """Execute one intent (or, with ``op``, submit one raw coldkey call).

        Every failure becomes ``WriteResult(ok=False)``; only connection errors
        are retried.
        """
        if op is None:
            op = intent.op
            submit = lambda: self.client.execute(intent, wallet)  # noqa: E731
        else:
            submit = lambda: self.client.submit_call(intent, wallet)  # noqa: E731
        try:
            result = await self._retry(submit)
        except ChainUnreachable as error:
            return WriteResult(ok=False, error=str(error))
        except (BittensorError, ValueError, FileNotFoundError) as error:
            return WriteResult(ok=False, error=f"{op}: {_line(error)}")
        if not result.success:
            return WriteResult(ok=False, error=f"{op} rejected: {self._reason(result)}")
        return WriteResult(ok=True, block=_included_block(result))

    def _reason(self, result: Any) -> str:
        """One line: the chain's message, plus the SDK's remediation on real networks."""
        error = result.error
        reason = _line(error.message if error is not None else result.message)
        if self.network == "devnet" or error is None or error.code == ErrorCode.UNKNOWN:
            return reason  # devnet messages carry their own devnet-specific hint
        return f"{reason} ({error.remediation})"

    async def close(self) -> None:
        await self.client.close()


# --- wallets and registration -------------------------------------------------------


def load_wallet(name: str, hotkey: str, path: str | Path) -> bt.Wallet:
    """The wallet ``name``/``hotkey`` under ``path``, with its key files checked.

    Raises :class:`WalletMissing` naming the missing file and the command that
    creates it. Does not unlock the coldkey.
    """
    root = Path(path).expanduser()
    wallet = bt.Wallet(name, hotkey, path=str(root))
    create = f"btcli wallet create -w {name} -H {hotkey} --wallet-path {root}"
    coldkeypub = root / name / "coldkeypub.txt"
    if not coldkeypub.exists() and not (root / name / "coldkey").exists():
        raise WalletMissing(f"no coldkey for wallet {name!r} at {coldkeypub}; create it: {create}")
    hotkey_file = root / name / "hotkeys" / hotkey
    if not hotkey_file.exists():
        raise WalletMissing(
            f"no hotkey {hotkey!r} for wallet {name!r} at {hotkey_file}; create it: "
            f"btcli wallet new-hotkey -w {name} -H {hotkey} --wallet-path {root}"
        )
    return wallet


def require_registered(
    metagraph: MetagraphView,
    hotkey: str,
    netuid: int,
    network: str,
    *,
    wallet_name: str = "WALLET",
    wallet_hotkey: str = "HOTKEY",
    wallet_path: str | Path | None = None,
    devnet_state: str | Path | None = None,
) -> int:
    """The hotkey's uid; raises :class:`NotRegistered` with the command to register
    (see :func:`register_command` for the path arguments)."""
    uid = metagraph.uid_of(hotkey)
    if uid is None:
        raise NotRegistered(
            f"hotkey {hotkey} is not registered on netuid {netuid} ({network}); register it: "
            + register_command(
                netuid, network, wallet_name, wallet_hotkey,
                wallet_path=wallet_path, devnet_state=devnet_state,
            )
        )
    return uid


# --- helpers ------------------------------------------------------------------------


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


def _hotkey_address(wallet: object) -> str | WriteResult:
    """The wallet's hotkey ss58 (public view, no unlock), or a failed WriteResult."""
    try:
        return str(public_view(wallet, "hotkey").ss58_address)
    except (OSError, BittensorError, AttributeError, ValueError) as error:
        return WriteResult(ok=False, error=f"cannot read the wallet's hotkey: {_line(error)}")


def _included_block(result: Any) -> int | None:
    height, _, _ = (result.extrinsic_id or "").partition("-")
    return int(height) if height.isdigit() else None
