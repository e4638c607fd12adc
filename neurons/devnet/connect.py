"""Attaching chain access to the devnet: a ``neurons.chain.Chain`` over a :class:`DevnetSubstrate`.

Chain access knows nothing of the devnet; the devnet hands its ``Substrate``
to ``neurons.chain.connect``, so the real SDK code runs on it unchanged.
"""

from __future__ import annotations

import shlex
import sqlite3
from pathlib import Path

from neurons.chain import DEFAULT_DEVNET_STATE, Chain, ChainUnreachable, connect
from neurons.chain.wallets import non_default

from .store import StateMissing, Store
from .substrate import DevnetSubstrate

__all__ = ["DevnetStateMissing", "connect_devnet"]


class DevnetStateMissing(ChainUnreachable):
    """No devnet state file at the path; connecting never creates one.

    Build it with :meth:`at`, whose message names the command that creates the chain.
    """

    @classmethod
    def at(cls, path: str | Path, netuid: int | None = None) -> DevnetStateMissing:
        state = shlex.quote(str(Path(path).expanduser()))
        return cls(
            f"no devnet state at {state}; create it with python -m neurons.devnet --state {state} "
            f"create-subnet --netuid {'NETUID' if netuid is None else netuid} "
            "(or run neurons/localnet.py)"
        )


async def connect_devnet(
    state: Path | None = None,
    *,
    netuid: int | None = None,
    create: bool = False,
    timeout: float = 10.0,
    retries: int = 2,
) -> Chain:
    """A connected :class:`Chain` on the devnet kept at ``state`` (default ``DEFAULT_DEVNET_STATE``).

    An absent file raises :class:`DevnetStateMissing` (naming the create-subnet
    command for ``netuid``) and writes nothing, unless ``create`` is true (tests;
    users create a chain with ``python -m neurons.devnet create-subnet``). A file
    that cannot be opened is ``ChainUnreachable``. A non-default path is named in
    the "subnet does not exist" hint.
    """
    path = Path(state or DEFAULT_DEVNET_STATE).expanduser()
    try:
        substrate = DevnetSubstrate(Store(path, create=create))
    except StateMissing:
        raise DevnetStateMissing.at(path, netuid) from None
    except (OSError, sqlite3.Error) as error:
        detail = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ChainUnreachable(
            f"cannot open the devnet state {path} ({detail}); "
            "point the devnet state path at a writable file"
        ) from None
    return await connect(
        "devnet", substrate=substrate, devnet_state=non_default(path, DEFAULT_DEVNET_STATE),
        timeout=timeout, retries=retries,
    )
