"""``python -m neurons.pins``: the subnet owner publishes the pin, anyone shows it, on the devnet."""

from __future__ import annotations

import io
import subprocess

from neurons.pins import EXIT_CANNOT_RUN, EXIT_DIFFERS, EXIT_OK, main
from tests.support.devnet import make_devnet
from tests.support.paths import PYTHON, REPO_ROOT


def _pins(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    code = main(list(argv), out=out)
    return code, out.getvalue()


def _flags(net) -> list[str]:
    return ["--netuid", "2", "--subtensor.network", "devnet", "--subtensor.devnet_state", str(net.state)]


def test_publish_then_show_prints_the_pin_and_that_it_matches(tmp_path, registry):
    net = make_devnet(tmp_path, miners=("owner",), owner="owner")
    wallet = ["--wallet.name", "owner", "--wallet.path", str(net.wallets)]
    assert _pins("show", *_flags(net))[0] == EXIT_DIFFERS  # nothing published yet
    code, out = _pins("publish", *_flags(net), *wallet)
    assert code == EXIT_OK, out
    assert "published at block" in out and "the pin matches this checkout's circuits" in out
    code, out = _pins("show", *_flags(net))
    assert code == EXIT_OK, out
    for c in registry:
        assert f"pinned          {c.id}  {c.name}" in out


def test_show_names_a_local_circuit_the_pin_leaves_out(tmp_path, registry):
    net = make_devnet(tmp_path, miners=("owner",), owner="owner")
    first, *rest = sorted(registry, key=lambda c: c.name)
    wallet = ["--wallet.name", "owner", "--wallet.path", str(net.wallets)]
    assert _pins("publish", *_flags(net), *wallet, "--circuits", first.name)[0] == EXIT_OK
    code, out = _pins("show", *_flags(net))
    assert code == EXIT_DIFFERS
    assert f"pinned          {first.id}" in out
    for c in rest:
        assert f"NOT PINNED      {c.id}  {c.name}" in out
    assert "the pin differs" in out


def test_publish_by_a_hotkey_that_is_not_the_owners_is_refused(tmp_path):
    net = make_devnet(tmp_path, miners=("owner", "miner"), owner="owner")
    code, out = _pins("publish", *_flags(net), "--wallet.name", "miner", "--wallet.path", str(net.wallets))
    assert code == EXIT_DIFFERS and "refused: hotkey" in out and "not the subnet owner's" in out


def test_a_missing_devnet_state_cannot_run_and_says_how_to_create_it(tmp_path):
    code, out = _pins("show", "--netuid", "2", "--subtensor.network", "devnet",
                      "--subtensor.devnet_state", str(tmp_path / "none.sqlite"))
    assert code == EXIT_CANNOT_RUN and "create-subnet" in out


def test_help_explains_both_commands_and_where_pins_are_enforced():
    done = subprocess.run([PYTHON, "-m", "neurons.pins", "--help"], cwd=REPO_ROOT, capture_output=True,
                          text=True, timeout=120)
    text = " ".join(done.stdout.split())  # argparse wraps lines
    assert done.returncode == 0
    assert "publish" in text and "show" in text and "finney and test" in text
    done = subprocess.run([PYTHON, "-m", "neurons.pins", "publish", "--help"], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "--wallet.name" in done.stdout and "--circuits" in done.stdout
