"""``python -m receipts verify``: what it prints and its exit status (0 verified, 1 rejected,
2 could not check), driven through ``main`` and once as the real command."""

from __future__ import annotations

import io
import subprocess

import pytest

from receipts.__main__ import EXIT_CANNOT_CHECK, EXIT_REJECTED, EXIT_VERIFIED, main
from tests.support.paths import PYTHON, REPO_ROOT
from tests.support.receipts import tampered


def run(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    return main(list(argv), out=out), out.getvalue()


def test_a_genuine_receipt_prints_verified_with_its_outputs_and_exits_0(receipt, tmp_path, real_proof):
    path = tmp_path / "r.json"
    path.write_bytes(receipt)
    status, text = run("verify", str(path))
    assert status == EXIT_VERIFIED == 0
    assert text.startswith(f"verified: {path}\n") and "FAILED" not in text
    assert f"outputs    {list(real_proof[1].outputs)}" in text and "(wine_mlp)" in text


def test_a_tampered_receipt_prints_rejected_naming_each_failed_check_and_exits_1(receipt, tmp_path):
    path = tmp_path / "r.json"
    path.write_bytes(tampered(receipt, ("outputs", 0)))
    status, text = run("verify", str(path))
    assert status == EXIT_REJECTED == 1
    assert text.startswith(f"rejected: {path}\n")
    assert "  FAILED outputs: the receipt's outputs are not the proof's" in text
    assert "  FAILED validator signature: " in text


def test_a_missing_file_or_models_that_do_not_load_exit_2(receipt, tmp_path):
    status, text = run("verify", str(tmp_path / "nope.json"))
    assert status == EXIT_CANNOT_CHECK == 2 and text.startswith("cannot check: ")
    path = tmp_path / "r.json"
    path.write_bytes(receipt)
    (tmp_path / "empty").mkdir()
    status, text = run("verify", str(path), "--models", str(tmp_path / "empty"))
    assert status == EXIT_CANNOT_CHECK and "model folders do not load" in text


def test_usage_errors_exit_2():
    with pytest.raises(SystemExit) as exit_:
        main([])
    assert exit_.value.code == 2


def test_the_command_runs_as_python_dash_m_with_help_and_rejects_with_status_1(receipt, tmp_path):
    helped = subprocess.run([PYTHON, "-m", "receipts", "verify", "--help"], cwd=REPO_ROOT,
                            capture_output=True, text=True, timeout=120)
    assert helped.returncode == 0 and "--models" in helped.stdout and "--srs" in helped.stdout
    path = tmp_path / "r.json"
    path.write_bytes(tampered(receipt, ("miner", "signature")))
    done = subprocess.run([PYTHON, "-m", "receipts", "verify", str(path)], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 1, done.stderr
    assert "FAILED miner signature: BadSignature" in done.stdout
