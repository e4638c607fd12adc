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


# --- against the on-chain circuit pin (--network) ---------------------------------------


def _devnet_with_pin(tmp_path, *circuit_names):
    """A devnet whose subnet owner pinned ``circuit_names`` (none: published nothing)."""
    from neurons.pins import main as pins_main
    from tests.support.devnet import make_devnet

    net = make_devnet(tmp_path / "chain", miners=("owner",), owner="owner")
    if circuit_names:
        code = pins_main(["publish", "--netuid", "2", "--subtensor.network", "devnet",
                          "--subtensor.devnet_state", str(net.state), "--wallet.name", "owner",
                          "--wallet.path", str(net.wallets), "--circuits", *circuit_names], out=io.StringIO())
        assert code == 0
    return ["--network", "devnet", "--netuid", "2", "--devnet-state", str(net.state)]


def test_with_network_a_receipt_for_a_circuit_outside_the_pin_is_rejected_as_not_pinned(receipt, tmp_path, registry):
    other = next(c.name for c in registry if c.name != "wine_mlp")
    flags = _devnet_with_pin(tmp_path, other)
    path = tmp_path / "r.json"
    path.write_bytes(receipt)
    status, text = run("verify", str(path), *flags)
    assert status == EXIT_REJECTED
    wine = registry.by_name("wine_mlp")
    assert f"  FAILED pin: not pinned: circuit {wine.id} is not in the pin of netuid 2 on devnet at block" in text
    assert text.count("FAILED") == 1  # the receipt itself is genuine
    assert run("verify", str(path))[0] == EXIT_VERIFIED  # offline, nothing is read of a chain


def test_with_network_a_receipt_for_a_pinned_circuit_is_verified(receipt, tmp_path):
    flags = _devnet_with_pin(tmp_path, "wine_mlp")
    path = tmp_path / "r.json"
    path.write_bytes(receipt)
    status, text = run("verify", str(path), *flags)
    assert status == EXIT_VERIFIED, text


def test_with_network_and_no_pin_published_the_receipt_is_rejected_saying_so(receipt, tmp_path):
    flags = _devnet_with_pin(tmp_path)
    path = tmp_path / "r.json"
    path.write_bytes(receipt)
    status, text = run("verify", str(path), *flags)
    assert status == EXIT_REJECTED
    assert "  FAILED pin: not pinned: the subnet owner of netuid 2 on devnet has published no circuit pin" in text


def test_network_without_netuid_is_a_usage_error_and_an_unreadable_chain_cannot_check(receipt, tmp_path):
    path = tmp_path / "r.json"
    path.write_bytes(receipt)
    with pytest.raises(SystemExit) as exit_:
        main(["verify", str(path), "--network", "devnet"])
    assert exit_.value.code == 2
    status, text = run("verify", str(path), "--network", "devnet", "--netuid", "2",
                       "--devnet-state", str(tmp_path / "none.sqlite"))
    assert status == EXIT_CANNOT_CHECK and "cannot check: the pin of netuid 2 on devnet cannot be read" in text
