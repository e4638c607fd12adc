"""The whole subnet with real processes: devnet, one honest miner, a validator, real proofs.

What is tried: ``neurons/localnet.py`` (the README's main command) with one
miner and two rounds, each neuron its own process talking signed HTTP, the
miner proving the shipped circuits with EZKL, the validator verifying.
What must hold: it exits 0; every response of the honest miner was verified;
its moving average is above zero; and the validator's weights reached the
chain (committed, then revealed by the devnet's commit-reveal: the weight
row for the validator names the miner) and the epoch turned them into incentive.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import time

from tests.support.paths import PYTHON, REPO_ROOT
from tests.support.ports import free_port


def test_localnet_honest_miner_is_verified_scored_and_weighted_on_chain(tmp_path, key_cache):
    workdir = tmp_path / "localnet"
    run = subprocess.run(
        [
            PYTHON, "neurons/localnet.py",
            "--miners", "1", "--rounds", "2", "--round-interval", "1",
            "--workdir", str(workdir), "--base-port", str(free_port()),
            "--keys.cache", str(key_cache), "--block-time", "0.5",
        ],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=300,
    )
    assert run.returncode == 0, f"stdout:\n{run.stdout}\nstderr:\n{run.stderr}"
    assert "Traceback" not in run.stderr

    reports_path = next(workdir.glob("state/validator/*/reports.jsonl"))
    rounds = [json.loads(line) for line in reports_path.read_text().splitlines()]
    assert len(rounds) == 2
    records = [r for rnd in rounds for r in rnd["records"]]
    assert records and all(r["verified"] for r in records), records
    miner_uid = records[0]["uid"]
    assert rounds[-1]["averages"][str(miner_uid)] > 0

    from neurons.devnet import admin

    report = asyncio.run(admin.metagraph(2, state=workdir / "chain.sqlite"))
    validator = next(n for n in report.view.neurons if n.validator_permit)
    assert report.weights[validator.uid] == {miner_uid: 1.0}
    # The devnet's epoch runs every tempo (5 blocks here); wait for one to pass.
    deadline = time.monotonic() + 15
    while report.view.by_uid(miner_uid).incentive == 0 and time.monotonic() < deadline:
        time.sleep(0.5)
        report = asyncio.run(admin.metagraph(2, state=workdir / "chain.sqlite"))
    assert report.view.by_uid(miner_uid).incentive > 0
    assert "weights on chain" in run.stdout
    # Commit-reveal is on (as on finney): the table names the commit and the reveal it waited for.
    assert "revealed by the chain at block" in run.stdout, run.stdout
