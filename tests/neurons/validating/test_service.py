"""neurons.validating.service: settings from flags, and the wiring as the entry script runs it.

Only the chain is faked (``FakeChain``, injected); wallet files, the circuit
registry, the spawned verifier pool, state and reports are real, and so is the
miner (the real app over TCP on localhost, proving with EZKL).
"""

from __future__ import annotations

import asyncio
import json
import socket
from pathlib import Path

import pytest

from execution_layer import UntrustedSrs
from neurons.mining.app import build_miner_app
from neurons.shared.config import validator_parser
from neurons.shared.http_server import bind, serving
from neurons.shared.version import VERSION_KEY
from neurons.validating.service import run_validator, settings_from_args
from neurons.validating.state import StateStore
from tests.support.cast import MIN_STAKE, NETUID
from tests.support.chain import FakeChain, neuron
from tests.support.chain import serving as with_axon
from tests.support.ports import free_port
from tests.support.provers import AsyncFakeProver
from tests.support.wallets import hotkey_of

pytestmark = pytest.mark.anyio


def settings(*args: str):
    return settings_from_args(validator_parser().parse_args(list(args)))


# --- settings ----------------------------------------------------------------------


def test_settings_group_the_shared_flags_and_expand_paths():
    s = settings("--netuid", "7", "--subtensor.network", "test", "--wallet.name", "v", "--wallet.hotkey", "h",
                 "--wallet.path", "~/w", "--metrics.port", "9100", "--validator.circuits", "wine_mlp")
    assert (s.chain.netuid, s.chain.network) == (7, "test")
    assert (s.wallet.name, s.wallet.hotkey) == ("v", "h") and s.wallet.path == Path("~/w").expanduser()
    assert s.observability.metrics_port == 9100 and s.circuits == ("wine_mlp",)
    assert s.run_dir == s.state_dir / "test-7-v-h"


@pytest.mark.parametrize(
    "network, allowed",
    [("devnet", True), ("local", False), ("ws://127.0.0.1:9944", False), ("ws://localhost:9944", False),
     ("ws://[::1]:9944", False), ("finney", False), ("test", False), ("wss://entrypoint-finney.opentensor.ai:443",
     False), ("ws://10.0.0.5:9944", False), ("ws://203.0.113.9:9944", False)],
)
def test_private_axons_are_queried_by_default_only_on_the_devnet(network, allowed):
    """A node on this machine (local, ws://localhost) is often a lite node synced to finney,
    so it does not open private axons by itself: a miner could point validators at 127.0.0.1."""
    assert settings("--subtensor.network", network).allow_private_axons is allowed


@pytest.mark.parametrize("network", ["local", "ws://127.0.0.1:9944", "finney", "devnet"])
def test_allow_private_axons_flag_turns_querying_private_axons_on(network):
    assert settings("--subtensor.network", network, "--validator.allow_private_axons").allow_private_axons


@pytest.mark.parametrize("network, default", [("devnet", 0.0), ("local", 1000.0), ("finney", 1000.0), ("test", 1000.0)])
def test_the_validators_min_stake_defaults_to_the_miners_default_on_each_network(network, default):
    from neurons.mining.service import settings_from_args as miner_settings
    from neurons.shared.config import miner_parser

    miner = miner_settings(miner_parser().parse_args(["--subtensor.network", network]))
    assert settings("--subtensor.network", network).min_stake == miner.min_stake == default


def test_the_min_stake_flag_sets_the_validators_min_stake():
    assert settings("--subtensor.network", "finney", "--validator.min_stake", "250").min_stake == 250.0


def test_receipts_are_off_by_default_and_the_flags_set_folder_and_budget():
    assert settings().receipts_dir is None
    s = settings("--validator.receipts", "~/receipts", "--validator.receipts_max_mb", "2.5")
    assert s.receipts_dir == Path("~/receipts").expanduser() and s.receipts_max_bytes == int(2.5 * 1024 * 1024)


def test_a_receipts_budget_that_is_not_a_positive_size_is_a_usage_error():
    with pytest.raises(SystemExit):
        settings("--validator.receipts_max_mb", "0")


# --- the wiring ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def validator_wallets(wallets):
    """(validator, miner): the suite's wallets of those names."""
    return wallets["validator"], wallets["miner"]


def chain_with_local_miner(validator_wallets, port: int) -> FakeChain:
    validator, miner = validator_wallets
    me = neuron(0, hotkey_of(validator), stake=MIN_STAKE * 10)
    miner_neuron = with_axon(neuron(1, hotkey_of(miner), stake=0.0, permit=False), ("127.0.0.1", port))
    return FakeChain(NETUID, {0: me, 1: miner_neuron})


def validator_settings(validator_wallets, tmp_path, network: str, circuit_name: str, *extra: str):
    return settings(
        "--subtensor.network", network, "--netuid", str(NETUID), "--wallet.name", "validator",
        "--wallet.path", str(Path(validator_wallets[0].path)), "--validator.rounds", "1",
        "--validator.circuits", circuit_name, "--state.dir", str(tmp_path / "state"), *extra,
    )


def only_report(tmp_path) -> dict:
    (run_dir,) = (tmp_path / "state").iterdir()
    (line,) = (run_dir / "reports.jsonl").read_text().splitlines()
    return json.loads(line)


async def test_an_unwritable_state_folder_stops_the_validator_before_any_round(validator_wallets, tmp_path):
    """Tried: --state.dir where no folder can be made. Must hold: run_validator raises StateError
    (the daemon's one-line operator error) naming the folder, before any miner is challenged or
    weight set, and before the slow start-up (circuits, verifier workers)."""
    from neurons.validating.state import StateError

    chain = chain_with_local_miner(validator_wallets, free_port())
    (tmp_path / "state").write_text("a file where the state folder should be")
    with pytest.raises(StateError, match=r"is not writable .*--state\.dir"):
        await asyncio.wait_for(
            run_validator(validator_settings(validator_wallets, tmp_path, "devnet", "wine_mlp"), chain=chain),
            timeout=60,
        )
    assert chain.submitted == []


async def test_run_validator_on_a_fake_chain_scores_a_real_miner_and_sets_weights(validator_wallets, tmp_path, real):
    """Devnet: the miner on 127.0.0.1 is queried, its real proof verified in the worker
    pool, and the round's state, report line and weights are written."""
    circuit, prover, _ = real
    port = free_port()
    chain = chain_with_local_miner(validator_wallets, port)

    async def prove(circuit_id, inputs):
        return await asyncio.to_thread(prover.prove, circuit_id, inputs)

    app = build_miner_app(wallet=validator_wallets[1], prove=prove, circuits={circuit.id}, metagraph=chain.view,
                          netuid=NETUID, min_stake=MIN_STAKE, max_queue=4)
    async with serving(app, bind("127.0.0.1", port)):
        await asyncio.wait_for(
            run_validator(validator_settings(validator_wallets, tmp_path, "devnet", circuit.name), chain=chain), timeout=120
        )
    (intent,) = chain.submitted
    assert (intent.netuid, intent.uids, intent.version_key) == (NETUID, [1], VERSION_KEY)
    assert intent.weights == [pytest.approx(1.0)]
    (record,) = only_report(tmp_path)["records"]
    assert record["uid"] == 1 and record["verified"] and record["outcome"] == "accepted", record["reason"]
    assert record["response_s"] > 0 and record["proof_bytes"] > 0
    (run_dir,) = (tmp_path / "state").iterdir()
    assert StateStore(run_dir / "state.json").load().state.averages[1] > 0
    assert not chain.closed


async def test_run_validator_with_receipts_keeps_a_receipt_of_the_verified_answer(validator_wallets, tmp_path, real):
    """--validator.receipts: the round's one accepted answer leaves one receipt in the folder,
    signed by the validator's hotkey, which the standalone verifier accepts."""
    from execution_layer import CircuitRegistry
    from receipts import check_receipt

    circuit, prover, _ = real
    port = free_port()
    chain = chain_with_local_miner(validator_wallets, port)

    async def prove(circuit_id, inputs):
        return await asyncio.to_thread(prover.prove, circuit_id, inputs)

    app = build_miner_app(wallet=validator_wallets[1], prove=prove, circuits={circuit.id}, metagraph=chain.view,
                          netuid=NETUID, min_stake=MIN_STAKE, max_queue=4)
    folder = tmp_path / "receipts"
    async with serving(app, bind("127.0.0.1", port)):
        await asyncio.wait_for(
            run_validator(validator_settings(validator_wallets, tmp_path, "devnet", circuit.name,
                                             "--validator.receipts", str(folder)), chain=chain), timeout=120
        )
    (path,) = folder.glob("*.json")
    verdict = check_receipt(path.read_bytes(), CircuitRegistry.load())
    assert verdict.verified, verdict.failures
    assert verdict.receipt.validator.hotkey == hotkey_of(validator_wallets[0])
    assert verdict.receipt.miner.hotkey == hotkey_of(validator_wallets[1])


async def test_run_validator_on_a_real_network_does_not_query_a_loopback_axon(validator_wallets, tmp_path, real):
    """finney: a miner announcing 127.0.0.1 is not contacted; it scores zero and gets no weight.
    (--srs.allow_self_generated: the shipped circuits would be refused on finney otherwise.)"""
    circuit = real[0]
    port = free_port()
    chain = chain_with_local_miner(validator_wallets, port)
    with socket.create_server(("127.0.0.1", port)) as listener:  # would see a connection
        listener.setblocking(False)
        await asyncio.wait_for(
            run_validator(validator_settings(validator_wallets, tmp_path, "finney", circuit.name, "--srs.allow_self_generated"),
                          chain=chain),
            timeout=120,
        )
        with pytest.raises(BlockingIOError):
            listener.accept()
    report = only_report(tmp_path)
    assert report["records"] == [] and report["scores"] == {"1": 0.0}
    assert chain.submitted == []


async def test_run_validator_skips_rounds_under_its_min_stake_flag(validator_wallets, tmp_path, real, caplog):
    """The wiring hands --validator.min_stake to the loop: with stake 1000 under a floor of 5000
    the round is skipped, so the miner is not queried and no weight is written."""
    circuit = real[0]
    port = free_port()
    chain = chain_with_local_miner(validator_wallets, port)
    app = build_miner_app(wallet=validator_wallets[1], prove=AsyncFakeProver(), circuits={circuit.id},
                          metagraph=chain.view, netuid=NETUID, min_stake=MIN_STAKE, max_queue=4)
    async with serving(app, bind("127.0.0.1", port)):
        await asyncio.wait_for(
            run_validator(validator_settings(validator_wallets, tmp_path, "devnet", circuit.name,
                                             "--validator.min_stake", "5000"), chain=chain), timeout=120
        )
    report = only_report(tmp_path)
    assert report["records"] == [] and "under the 5000 miners require" in report["skipped"]
    assert chain.submitted == []


@pytest.mark.parametrize("network", ["finney", "test"])
async def test_run_validator_on_a_public_network_refuses_a_self_generated_srs(validator_wallets, tmp_path, network):
    """Whoever generated the shipped SRS can forge proofs that this validator would accept: it refuses
    before starting a verifier or querying anyone, and sets no weights."""
    chain = chain_with_local_miner(validator_wallets, free_port())
    with pytest.raises(UntrustedSrs, match=f"refusing to run on {network}: circuit wine_mlp uses a self-generated"):
        await run_validator(validator_settings(validator_wallets, tmp_path, network, "wine_mlp"), chain=chain)
    assert chain.submitted == [] and not chain.closed


@pytest.mark.parametrize("required, warned", [(10000, False), (10100, False), (10101, True)])
def test_a_subnet_version_key_above_ours_is_one_warning_naming_both_and_what_to_do(required, warned, caplog):
    """The chain rejects weights whose version key is below the subnet's: say so at start-up."""
    import logging

    from neurons.validating.service import warn_if_outdated

    with caplog.at_level(logging.WARNING, logger="validator"):
        assert warn_if_outdated(required, 10100) is warned
    lines = [r.getMessage() for r in caplog.records]
    if warned:
        (line,) = lines
        assert "requires weights version key 10101" in line and "sends 10100" in line and "git pull" in line
    else:
        assert lines == []


# --- the API's flags and start-up ------------------------------------------------------------


def test_the_api_is_off_by_default_and_its_flags_set_port_host_callers_and_limits(tmp_path):
    assert not settings().api.enabled and settings().api.host == "127.0.0.1"
    s = settings("--api.port", "8092", "--api.host", "0.0.0.0", "--api.allow", "5" + "F" * 47,
                 "--api.keys", str(tmp_path / "keys"), "--api.rate_limit", "30", "--api.burst", "3",
                 "--api.max_concurrent", "2", "--api.max_attempts", "5")
    assert s.api.enabled and (s.api.port, s.api.host, s.api.allow) == (8092, "0.0.0.0", ("5" + "F" * 47,))
    assert s.api.keys_file == tmp_path / "keys" and s.api.max_attempts == 5
    assert (s.api.limits.per_minute, s.api.limits.burst, s.api.limits.max_concurrent) == (30, 3, 2)


async def test_an_api_port_with_nobody_allowed_stops_the_validator_before_the_slow_start(validator_wallets, tmp_path):
    from neurons.validating.api_auth import AllowlistError

    chain = chain_with_local_miner(validator_wallets, free_port())
    with pytest.raises(AllowlistError, match=r"nobody may call the API: give --api.allow"):
        await asyncio.wait_for(run_validator(
            validator_settings(validator_wallets, tmp_path, "devnet", "wine_mlp", "--api.port", str(free_port())),
            chain=chain), timeout=60)
    assert chain.submitted == []


async def test_an_api_port_in_use_is_one_line_naming_the_api_port_flag(validator_wallets, tmp_path):
    chain = chain_with_local_miner(validator_wallets, free_port())
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        with pytest.raises(OSError, match=rf"cannot listen on 127.0.0.1:{port} .*choose another with --api.port"):
            await asyncio.wait_for(run_validator(
                validator_settings(validator_wallets, tmp_path, "devnet", "wine_mlp", "--api.port", str(port),
                                   "--api.allow", hotkey_of(validator_wallets[1])),
                chain=chain), timeout=60)
    assert chain.submitted == []


def test_more_api_attempts_than_an_answer_can_list_is_a_usage_error():
    """An answer lists at most 16 miners tried (protocol.MAX_API_ATTEMPTS)."""
    assert settings("--api.max_attempts", "16").api.max_attempts == 16
    with pytest.raises(SystemExit):
        settings("--api.max_attempts", "17")
