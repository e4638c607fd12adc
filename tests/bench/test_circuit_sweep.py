"""bench.circuit_sweep on a tiny Gemm model: the table's columns, its first row, and rows that fail.

Real ezkl throughout (the model is x[1,4] -> Gemm -> y[1,2], so each build takes seconds);
nothing here times anything: only the table's shape and the measured error are checked.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from bench.circuit_sweep import DEFAULTS, GridRow, SweepError, SweepModel, main, parse_row, sweep_row
from tests.support.markdown import cells
from tests.support.onnx_models import gemm_then, model_folder


def _digests(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def test_a_one_row_sweep_writes_every_column_with_ezkl_defaults_first_and_leaves_the_folder_alone(tmp_path, capsys):
    folder = model_folder(tmp_path, "tiny", gemm_then())
    before = _digests(folder)
    out = tmp_path / "sweep.md"
    # --max-logrows 12 keeps the defaults row cheap (uncapped, ezkl's 16384-entry range checks take 2^15 rows).
    code = main([str(folder), "--grid", "scales=7,decomp=512x4", "--prove-runs", "1", "--samples", "2",
                 "--max-logrows", "12", "--srs-dir", str(tmp_path / "srs"), "--out", str(out)])
    assert code == 0
    header, rule, *rows = out.read_text().splitlines()
    assert cells(header) == ["row", "calibrated", "logrows", "input scale", "param scale", "decomp", "cols",
                              "calibrate s", "setup s", "witness s", "prove s", "pk MB", "proof bytes",
                              "max abs error", "note"]
    assert len(rows) == 2
    table = [dict(zip(cells(header), cells(row))) for row in rows]
    assert [r["row"] for r in table] == ["ezkl defaults", "scales=7,decomp=512x4"]
    assert [r["calibrated"] for r in table] == ["yes", "yes"]
    ours = table[1]
    assert (ours["input scale"], ours["param scale"], ours["decomp"]) == ("7", "7", "512x4")
    assert ours["note"] == ""
    for name in ("logrows", "calibrate s", "setup s", "witness s", "prove s", "pk MB", "proof bytes"):
        assert float(ours[name]) >= 0, name
    # Scale 7 quantises by 1/128: the circuit is close to onnxruntime, but not exact.
    assert 0 < float(ours["max abs error"]) < 0.05
    assert (table[0]["decomp"], table[0]["logrows"]) == ("16384x2", "12")  # ezkl's own range checks, capped
    assert _digests(folder) == before
    assert "| ezkl defaults |" in capsys.readouterr().out  # printed as measured


def test_a_row_that_cannot_calibrate_is_reported_as_such_instead_of_raising(tmp_path):
    """ezkl's default range checks (16384 entries) cannot be spread over 2^10 rows."""
    model = SweepModel.read(model_folder(tmp_path, "tiny", gemm_then()))
    (work := tmp_path / "work").mkdir()
    result = sweep_row(model, DEFAULTS, work=work, srs_dir=tmp_path / "srs", max_logrows=10)
    assert not result.calibrated
    assert result.failure == "calibration found no suitable parameters"
    assert result.prove_s is None and result.max_abs_error is None


def test_a_grid_row_is_parsed_key_by_key():
    assert parse_row("scales=6/8,decomp=4096x3,cols=4,rebase=1/10,logrows=13") == GridRow(
        label="scales=6/8,decomp=4096x3,cols=4,rebase=1/10,logrows=13", scales=(6, 8), decomp=(4096, 3),
        num_inner_cols=4, rebase=(1, 10), logrows=13)
    assert parse_row("scales=7,logrows=auto").logrows is None


@pytest.mark.parametrize(("text", "says"), [
    ("scale=7", "unknown key 'scale' (keys: scales, decomp, cols, rebase, logrows)"),
    ("decomp=512", "expected BASExLEGS, e.g. decomp=512x4"),
    ("scales=seven", "expected integers joined by '/'"),
    ("logrows=big", "expected 'auto' or an integer"),
    ("cols", "is not KEY=VALUE"),
])
def test_a_bad_grid_row_is_refused_naming_what_to_write(text, says):
    with pytest.raises(SweepError, match=says.replace("(", r"\(").replace(")", r"\)")):
        parse_row(text)


def test_help_names_every_flag(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--help"])
    assert exit_.value.code == 0
    text = capsys.readouterr().out
    for flag in ("--grid", "--out", "--srs-dir", "--samples", "--prove-runs", "--max-logrows"):
        assert flag in text


def test_a_folder_without_a_model_is_refused_with_what_to_do(tmp_path, capsys):
    folder = model_folder(tmp_path, "tiny", gemm_then())
    (folder / "model.onnx").unlink()
    assert main([str(folder), "--grid", "scales=7"]) == 1
    assert "no model.onnx: train the model first" in capsys.readouterr().err
