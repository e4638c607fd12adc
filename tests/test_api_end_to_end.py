"""The verified-inference API end to end on the devnet (issue 12, item 5).

Tried: a devnet with a validator, a miner and a client wallet; the real miner daemon
(``run_miner``: its app over TCP, its prover worker proving wine_mlp with EZKL, keys derived
once per session, its axon announced on the devnet); the real validator daemon
(``run_validator``: its rounds, capabilities, verifier worker and ``--api.port``) on its own
connection to the devnet; a client that signs with ``bittensor.http_auth`` and is on
``--api.allow``. Must hold: client -> validator API -> miner -> verified answer whose outputs
are the model's for the client's input (within the circuit's quantisation), and the receipt
in the answer, written to a file, passes ``python -m receipts verify`` in a separate process
(no chain, no validator).
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import time

import bittensor as bt
import httpx
import numpy as np

from neurons.chain import load_wallet
from neurons.mining.service import run_miner
from neurons.mining.service import settings_from_args as miner_settings_from_args
from neurons.shared.config import miner_parser, validator_parser
from neurons.validating.service import run_validator, settings_from_args
from tests.support.devnet import make_devnet
from tests.support.inputs import fresh_input
from tests.support.paths import PYTHON, REPO_ROOT
from tests.support.ports import free_port

MINER_IP = "127.0.0.2"  # the devnet refuses 127.0.0.1 as an axon, as subtensor does


def test_a_client_gets_a_verified_answer_through_the_validator_api_and_checks_its_receipt_offline(
    tmp_path, real, key_cache
):
    circuit = real[0]
    net = make_devnet(tmp_path, validators=("val",), miners=("miner",), unregistered=("client",), block_time=0.25)
    client_wallet = load_wallet("client", "default", net.wallets)
    validator_hotkey = load_wallet("val", "default", net.wallets).hotkeypub.ss58_address
    inputs = [float(v) for v in np.asarray(fresh_input(circuit, np.random.default_rng(12))).reshape(-1)]
    miner_port, api_port = free_port(), free_port()

    async def scenario() -> dict:
        miner = miner_settings_from_args(miner_parser().parse_args([
            *net.chain_flags(), "--wallet.name", "miner", "--miner.circuits", circuit.name,
            "--axon.ip", MINER_IP, "--axon.port", str(miner_port), "--keys.cache", str(key_cache),
        ]))
        validator = settings_from_args(validator_parser().parse_args([
            *net.chain_flags(), "--wallet.name", "val", "--validator.circuits", circuit.name,
            "--state.dir", str(tmp_path / "state"), "--validator.round_interval", "1",
            "--api.port", str(api_port), "--api.allow", client_wallet.hotkeypub.ss58_address,
        ]))
        stop = asyncio.Event()
        daemons = [asyncio.ensure_future(run_miner(miner, stop=stop)),
                   asyncio.ensure_future(run_validator(validator, stop=stop))]
        try:
            return await _ask(client_wallet, validator_hotkey, api_port, circuit.id, inputs, daemons)
        finally:
            stop.set()
            await asyncio.wait_for(asyncio.gather(*daemons), 60)

    answer = asyncio.run(scenario())
    assert answer["circuit_id"] == circuit.id and answer["attempts"] == 1
    assert answer["miner_hotkey"] == load_wallet("miner", "default", net.wallets).hotkeypub.ss58_address
    expected = circuit.run_onnx(inputs)
    assert np.allclose(answer["outputs"], expected, atol=0.05), (answer["outputs"], expected)
    path = tmp_path / "answer.receipt.json"
    path.write_text(answer["receipt"])
    check = subprocess.run([PYTHON, "-m", "receipts", "verify", str(path)], cwd=REPO_ROOT,
                           capture_output=True, text=True, timeout=120)
    assert check.returncode == 0, check.stdout + check.stderr
    assert check.stdout.startswith("verified"), check.stdout


async def _ask(wallet: bt.Wallet, receiver: str, port: int, circuit_id: str, inputs: list[float],
               daemons: list[asyncio.Future]) -> dict:
    """POST the request, signed, until the miner serves and the validator has read its metagraph
    and the miner's capabilities (503 until then); the answer's JSON."""
    signer = bt.resolve_signer(wallet, role="hotkey")
    body = json.dumps({"circuit_id": circuit_id, "inputs": inputs, "deadline_s": 30.0}).encode()
    deadline = time.monotonic() + 120
    last = "not asked yet"
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=60, trust_env=False) as http:
        while time.monotonic() < deadline:
            for daemon in daemons:
                assert not daemon.done(), f"a daemon stopped: {daemon.exception()}"
            headers = bt.http_auth.sign(signer, method="POST", path="/v1/infer", body=body,
                                        receiver_ss58=receiver, nonce_ns=time.time_ns())
            try:
                response = await http.post("/v1/infer", content=body, headers=headers)
            except httpx.ConnectError:
                last = "API not listening yet"
            else:
                if response.status_code == 200:
                    return response.json()
                assert response.status_code == 503, response.text
                last = response.text
            await asyncio.sleep(0.5)
    raise AssertionError(f"no verified answer within 120 s; last: {last}")
