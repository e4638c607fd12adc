"""What each miner says it serves: its ``Capabilities``, asked now and then and kept.

:class:`CapabilityBook` answers :meth:`CapabilityBook.served` from what it knows, at
once: a round never waits for a capabilities query. When a miner's answer is missing
or older than ``refresh_s``, or the uid's hotkey or axon changed (a new miner, or the
same one moved; the old answer is then not used), it asks the miner in the background
(at most one query per uid at a time) and the answer serves from then on. A miner that
does not answer (no connection, a timeout, a refusal, a body of another protocol
version) is unknown, and asked again after ``retry_s``; unknown means "challenged as
before capabilities existed": with any circuit.

Cost: one signed ``GET`` per miner per ``refresh_s`` (default 10 minutes: fifty 12 s
rounds), each waiting at most ``budget_s``, beside the rounds, never in them.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from neurons.chain import NeuronInfo
from neurons.validating.client import MinerClient
from protocol import Capabilities

__all__ = ["CapabilityBook", "REFRESH_S", "RETRY_S"]

log = logging.getLogger(__name__)

REFRESH_S = 600.0
"""How long a miner's answer is kept before it is asked again."""

RETRY_S = 120.0
"""How long a miner that did not answer stays unknown before it is asked again."""


@dataclass(frozen=True)
class _Entry:
    hotkey: str
    axon: tuple[str, int]
    capabilities: Capabilities | None
    expires: float


class CapabilityBook:
    """The capabilities of the miners one validator challenges, by uid (see the module docstring).

    ``clock`` is monotonic seconds. Never raises for anything a miner does; use it
    from one event loop. :meth:`settle` waits for the queries under way, :meth:`aclose`
    cancels them.
    """

    def __init__(
        self,
        client: MinerClient,
        *,
        refresh_s: float = REFRESH_S,
        retry_s: float = RETRY_S,
        budget_s: float = 3.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self.refresh_s = refresh_s
        self.retry_s = retry_s
        self.budget_s = budget_s
        self._clock = clock
        self._entries: dict[int, _Entry] = {}
        self._asking: dict[int, asyncio.Task[None]] = {}

    def served(self, neuron: NeuronInfo) -> Capabilities | None:
        """What ``neuron`` last said it serves; None when not known (yet) for this hotkey
        at this axon, or it did not answer. Starts a query in the background when due."""
        axon = neuron.axon
        if axon is None:
            return None
        entry = self._entries.get(neuron.uid)
        if entry is not None and (entry.hotkey, entry.axon) != (neuron.hotkey, axon):
            entry = None  # another miner's answer, or from another address
        if (entry is None or self._clock() >= entry.expires) and neuron.uid not in self._asking:
            self._asking[neuron.uid] = asyncio.ensure_future(self._ask(neuron.uid, neuron.hotkey, axon))
        return entry.capabilities if entry is not None else None

    async def settle(self) -> None:
        """Wait for the queries under way to end."""
        while self._asking:
            await asyncio.wait(list(self._asking.values()))

    async def aclose(self) -> None:
        """Cancel the queries under way."""
        tasks = list(self._asking.values())
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks)

    async def _ask(self, uid: int, hotkey: str, axon: tuple[str, int]) -> None:
        try:
            outcome = await self._client.capabilities(axon, hotkey, budget_s=self.budget_s)
            caps = outcome.response
            if caps is None:
                log.debug("uid %d %s: no capabilities (%s: %s); challenged with any circuit for %.0fs",
                          uid, hotkey[:10], outcome.status, outcome.detail, self.retry_s)
        except Exception:  # the task boundary of one query: the miner stays unknown
            log.exception("uid %d %s: asking for capabilities failed in the validator", uid, hotkey[:10])
            caps = None
        finally:
            self._asking.pop(uid, None)
        self._entries[uid] = _Entry(
            hotkey, axon, caps, self._clock() + (self.refresh_s if caps is not None else self.retry_s)
        )
