"""bench.validator_round: the quick run's Section (shape, targets, outcomes), and the round's plan.

Real parts throughout (ezkl proofs, the devnet through the SDK, the validator's own
collaborators, stand-ins in another process); nothing here times anything.
"""

from __future__ import annotations

import json

import bittensor as bt
import pytest

from bench.report import PartOptions
from bench.round_proofs import ensure_proofs
from bench.standin_miners import Answers
from bench.validator_round import ROUND_CIRCUIT, SEED, plan_round, run
from protocol import ROUTE_PROVE, ErrorResponse, ProofRequest, decode, encode


def test_a_full_subnet_plan_has_64_refusing_25_silent_and_166_answering_miners_and_leaves_uid_0_to_the_validator():
    plan = plan_round(256)
    assert sorted(plan.behaviours) == list(range(1, 256))
    assert (plan.count("refuse"), plan.count("silent"), plan.count("answer")) == (64, 25, 166)
    assert plan_round(256) == plan  # seeded: the same uids every run


def test_the_quick_run_gives_the_validator_section_with_its_targets_and_the_planned_outcomes(tmp_path, key_cache):
    work = tmp_path / "work"
    work.mkdir()
    section = run(PartOptions(work=work, key_cache=key_cache, quick=True))

    assert section.title == "The validator"
    assert [t.name.split(",")[0] for t in section.targets] == [
        "verifications/s", "16-uid round wall time", "validator CPU outside verification"]
    assert all(t.measured and t.wanted and t.met is not None for t in section.targets)
    assert "| workers | verdicts | verdicts/s |" in section.body and "| round wall time |" in section.body
    rates, r = section.data["rates"], section.data["round"]
    assert [x["workers"] for x in rates] == [1, rates[-1]["workers"]] and all(x["per_s"] > 0 for x in rates)
    assert all(x["rejected"] == 0 for x in rates)
    plan = plan_round(16)
    # Every planned behaviour shows as its outcome: the stand-ins' proofs and signatures are accepted.
    assert r["outcomes"] == {"accepted": plan.count("answer"), "connect_error": plan.count("refuse"),
                             "timeout": plan.count("silent")}
    assert r["wall_s"] > 0 and r["validator_cpu_s"] > 0 and r["verifier_cpu_s"] > 0 and r["peak_pss_mb"] > 0
    assert r["weights"] is not None and r["weights"]["ok"], r["weights"]
    json.dumps(section.data)  # the raw numbers go into docs/performance.json


def test_a_stand_in_answers_inputs_it_has_no_proof_of_with_a_signed_internal_error(tmp_path, key_cache, registry,
                                                                                   wallets):
    circuit = registry.by_name(ROUND_CIRCUIT)
    proofs = ensure_proofs(tmp_path / "proofs", circuit, SEED, 1, key_cache=key_cache, workers=1)
    answers = Answers(proofs, bt.resolve_signer(wallets["miner"], role="hotkey"))
    known = ProofRequest(circuit_id=circuit.id, inputs=proofs[0].inputs, request_id="a" * 32, deadline=2e9)
    other = known.model_copy(update={"inputs": tuple(v + 0.5 for v in known.inputs)})
    headers = {"x-bittensor-nonce": "1", "x-bittensor-hotkey": "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY"}

    status, _, signed = answers.respond("POST", ROUTE_PROVE, headers, encode(known))
    assert status == 200 and signed
    status, body, signed = answers.respond("POST", ROUTE_PROVE, headers, encode(other))
    assert status == 500 and signed
    assert "no precomputed proof" in decode(ErrorResponse, body, max_bytes=4096).message
