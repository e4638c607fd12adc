"""bench.miner_path as a smoke run (``quick``): the Section's shape, never its timings.

Real parts throughout (the miner app over loopback TCP, ProverPool workers, real ezkl, the
validator's MinerClient), on wine_mlp with two rounds; what is checked is that every table,
target and raw number the report needs is there, and that the numbers are measurements
(positive), not what they are.
"""

from __future__ import annotations

import math

from bench.miner_path import TARGET_RATIO, TITLE, run
from bench.report import PartOptions

# Measured pieces (each timed alone, so each a positive duration); the derived rows may be negative.
MEASURED_PIECES = ("sign_request", "encode_request", "guard_admit", "decode_request", "wrap_response",
                   "encode_response", "sign_response", "check_signature", "decode_response", "worker_ipc",
                   "pk_read", "instant_path")


def test_a_quick_run_reports_the_ratio_the_pieces_the_key_loading_and_the_load_of_wine_mlp(tmp_path, key_cache):
    section = run(PartOptions(work=tmp_path / "work", key_cache=key_cache, quick=True))

    assert section.title == TITLE
    assert [t.name for t in section.targets] == ["miner path, wine_mlp: response time / bare ezkl"]
    target = section.targets[0]
    assert target.wanted == f"≤ {TARGET_RATIO}" and float(target.measured) > 0
    assert target.met is (float(target.measured) <= TARGET_RATIO)
    for heading in ("### Where the rest goes", "### Key loading", "### Under concurrent load (wine_mlp)",
                    "### Findings"):
        assert heading in section.body
    assert "| wine_mlp | 2 |" in section.body  # the main table: one row, two rounds

    found = section.data["circuits"]["wine_mlp"]
    assert found["rounds"] == 2 and len(found["rounds_raw"]) == 2
    for key in ("ours_s", "bare_s", "ratio", "pk_bytes", "proof_bytes", "response_bytes"):
        assert found[key] > 0, key
    for round_ in found["rounds_raw"]:
        assert all(v > 0 for v in round_.values()), round_
    assert set(MEASURED_PIECES) <= set(found["pieces_ms"])
    for piece in MEASURED_PIECES:
        assert found["pieces_ms"][piece] > 0, piece

    load = section.data["load"]
    assert [row["n"] for row in load] == [1, 8]
    assert load[0]["answered"] > 0 and load[0]["proofs_per_s"] > 0 and math.isfinite(load[0]["median_s"])
    # Eight callers on a lane of one worker and four places: some are refused at once, and say why.
    assert load[-1]["refused"] and load[-1]["refusals_per_s"] > 0
    assert all(reason.startswith("503 busy") for reason in load[-1]["refused"])
