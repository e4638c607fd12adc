"""Chain failures are counted in ``chain_errors`` and logged as one line, and the daemons keep going.

Validator: a round whose metagraph read fails counts ``chain_errors{operation="round"}``,
logs one WARNING without a traceback, and the loop goes on to the next round.
Miner: an axon announcement the chain refuses counts ``chain_errors{operation="serve_axon"}``.
"""

from __future__ import annotations

import asyncio
import logging

from neurons.chain import ChainReadFailed, WriteResult
from neurons.mining.service import _announce
from neurons.validating.client import MinerClient
from neurons.validating.loop import Validator
from neurons.validating.replay_guard import ReplayGuard
from neurons.validating.state import StateStore
from tests.support.chain import metagraph_of, neuron
from tests.support.wallets import make_wallet
from utils.metrics import Metrics


class _BrokenChain:
    """Every read fails the way a flaky node makes ``Chain`` fail; writes are refused."""

    def __init__(self) -> None:
        self.reads = 0

    async def metagraph(self, netuid):
        self.reads += 1
        raise ChainReadFailed("finney rejected a read: connection reset")

    async def serve_axon(self, wallet, netuid, ip, port):
        return WriteResult(ok=False, error="Custom error: ServingRateLimitExceeded")


def _counted(metrics: Metrics, operation: str) -> float:
    return metrics.registry.get_sample_value("poi_chain_errors_total", {"operation": operation}) or 0.0


def test_validator_round_with_a_failed_chain_read_is_counted_and_logged_without_traceback(tmp_path, caplog):
    wallet = make_wallet(tmp_path / "wallets", "val", 1)
    metrics, chain = Metrics(), _BrokenChain()

    async def main():
        client = MinerClient(wallet)
        try:
            validator = Validator(
                wallet=wallet, chain=chain, netuid=2, circuits=[object()], client=client,
                verify=None, store=StateStore(tmp_path / "state.json"), guard=ReplayGuard(),
                version_key=1, metrics=metrics,
            )
            await validator.run(rounds=2, round_interval=0)
        finally:
            await client.aclose()
        return validator

    with caplog.at_level(logging.INFO):
        validator = asyncio.run(main())
    assert validator.rounds_done == 2 and chain.reads == 2  # the loop went on
    assert _counted(metrics, "round") == 2
    failures = [r for r in caplog.records if "chain read failed" in r.getMessage()]
    assert len(failures) == 2
    assert all(r.levelno == logging.WARNING and r.exc_info is None for r in failures)


def test_miner_axon_announcement_refused_by_the_chain_is_counted(tmp_path, caplog):
    wallet = make_wallet(tmp_path / "wallets", "m1", 2)
    metrics = Metrics()
    view = metagraph_of(2, [neuron(1, wallet.hotkey.ss58_address)])
    with caplog.at_level(logging.WARNING):
        asyncio.run(_announce(_BrokenChain(), wallet, 2, ("203.0.113.7", 8091), view, metrics=metrics))
    assert _counted(metrics, "serve_axon") == 1
    assert "ServingRateLimitExceeded" in caplog.text
