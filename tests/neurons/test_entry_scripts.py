"""The entry scripts, run as a user runs them (``python neurons/miner.py …``), given bad input.

For each mistake an operator makes (wrong network name, chain down, no wallet,
hotkey not registered, wrong subnet, an SRS that does not match the manifests,
a changed circuit file, unknown circuit, port in use, unusable key or state folder) the script must
exit 1 with exactly ONE error line that says what to do, and no traceback
anywhere in its output. A running miner or validator stopped with SIGTERM must
exit 0 and log a clean stop. (A changed circuit file is tried on a copy of the
code: the repository's models/ folder is never touched.)

One devnet (in a temporary folder) serves the whole module: wallet ``m1`` is
registered on netuid 2, wallet ``ghost`` exists but is not registered.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import subprocess
from pathlib import Path

import pytest

from neurons.shared.config import miner_parser
from neurons.shared.daemon import run_daemon
from tests.support.devnet import NETUID, Devnet, make_devnet
from tests.support.models import MODELS, SHIPPED
from tests.support.paths import PYTHON, REPO_ROOT
from tests.support.ports import free_port
from tests.support.processes import Neuron, error_lines, isolated_env, run


@pytest.fixture(scope="module")
def chain(tmp_path_factory) -> Devnet:
    return make_devnet(tmp_path_factory.mktemp("entry"), miners=("m1",), unregistered=("ghost",))


@pytest.fixture(scope="module")
def env(tmp_path_factory) -> dict[str, str]:
    return isolated_env(tmp_path_factory.mktemp("env"))


def script_argv(script: str, chain: Devnet, key_cache: Path, extra: list[str]) -> list[str]:
    """argv for ``script`` on the test devnet with wallet m1; ``extra`` overrides (last wins)."""
    argv = [PYTHON, f"neurons/{script}.py", *chain.chain_flags(), "--wallet.name", "m1",
            "--keys.cache", str(key_cache)]
    if script == "validator":
        argv += ["--state.dir", str(chain.state.parent / f"{script}-state")]
    if script == "miner":
        argv += ["--axon.port", str(free_port()), "--miner.circuits", "digits_cnn"]
    else:
        argv += ["--validator.rounds", "1", "--validator.circuits", "digits_cnn"]
    return argv + extra


def assert_one_clear_error(proc: subprocess.CompletedProcess, *fragments: str) -> str:
    """Exit code 1, no traceback, exactly one ERROR line, holding every fragment."""
    output = proc.stdout + proc.stderr
    assert proc.returncode == 1, output
    assert "Traceback" not in output, output
    errors = error_lines(output)
    assert len(errors) == 1, output
    for fragment in fragments:
        assert fragment in errors[0], errors[0]
    return errors[0]


def _cases(chain: Devnet, tmp: Path) -> dict[str, tuple[list[str], list[str]]]:
    """name -> (extra flags, fragments the one error line must hold); for both scripts."""
    junk_srs_dir = tmp / "junk_srs"  # every SRS file the manifests name, none of them the right one
    junk_srs_dir.mkdir()
    for srs in (MODELS / "srs").glob("kzg*.srs"):
        (junk_srs_dir / srs.name).write_bytes(b"not the SRS the circuits were built with")
    return {
        "unknown network": (
            ["--subtensor.network", "nowhere"],
            ["unknown network 'nowhere'", "use one of devnet, finney, test, local"],
        ),
        "endpoint unreachable": (
            ["--subtensor.network", f"ws://127.0.0.1:{free_port()}"],
            ["cannot reach ws://127.0.0.1:", "check the node is running", "--subtensor.network devnet"],
        ),
        "wallet missing": (
            ["--wallet.name", "nobody"],
            ["no coldkey for wallet 'nobody'",
             f"create it: btcli wallet create -w nobody -H default --wallet-path {chain.wallets}"],
        ),
        "hotkey missing": (
            ["--wallet.hotkey", "spare"],
            ["no hotkey 'spare' for wallet 'm1'",
             f"btcli wallet new-hotkey -w m1 -H spare --wallet-path {chain.wallets}"],
        ),
        "hotkey not registered": (
            ["--wallet.name", "ghost"],
            ["is not registered on netuid 2 (devnet)",
             "register it: python -m neurons.devnet register --netuid 2 --wallet.name ghost "
             f"--wallet.hotkey default --wallet.path {chain.wallets} --state {chain.state}"],
        ),
        "subnet missing": (
            ["--netuid", "7"],
            ["subnet 7 does not exist on devnet", f"create-subnet --netuid 7 --state {chain.state}"],
        ),
        "SRS does not match the manifests": (
            ["--srs.dir", str(junk_srs_dir)],
            [f"{junk_srs_dir}/kzg", ": sha256 is", "the manifest pins", "--srs.dir"],
        ),
    }


CASES = ["unknown network", "endpoint unreachable", "wallet missing", "hotkey missing",
         "hotkey not registered", "subnet missing", "SRS does not match the manifests"]


@pytest.mark.parametrize("script", ["miner", "validator"])
@pytest.mark.parametrize("case", CASES)
def test_bad_input_gives_one_line_saying_what_to_do_and_exit_1(chain, env, key_cache, tmp_path, script, case):
    extra, fragments = _cases(chain, tmp_path)[case]
    proc = run(script_argv(script, chain, key_cache, extra), env)
    assert_one_clear_error(proc, *fragments)


@pytest.mark.parametrize("script", ["miner", "validator"])
def test_mistyped_devnet_state_path_is_refused_and_nothing_is_written(chain, env, key_cache, tmp_path, script):
    """--subtensor.devnet_state pointing nowhere: one line naming the path and the command
    that creates a chain (with that --state and the --netuid), exit 1; neither the file
    nor its folder is created (a start that is refused writes no chain)."""
    typo = tmp_path / "devnte" / "chain.sqlite"
    proc = run(script_argv(script, chain, key_cache, ["--subtensor.devnet_state", str(typo)]), env)
    assert_one_clear_error(
        proc,
        f"no devnet state at {typo}",
        f"create it with python -m neurons.devnet --state {typo} create-subnet --netuid {NETUID}",
        "neurons/localnet.py",
    )
    assert not typo.exists() and not typo.parent.exists()


def test_miner_refuses_a_changed_circuit_file_naming_it(chain, env, key_cache, tmp_path):
    """A copy of the code (the shared models/ folder is never touched) with one byte added to an ONNX file
    of the circuit the miner is asked to run (script_argv names digits_cnn): one line naming it and why."""
    import shutil

    copy = tmp_path / "checkout"
    for package in ("neurons", "execution_layer", "models", "protocol", "utils"):
        shutil.copytree(REPO_ROOT / package, copy / package, ignore=shutil.ignore_patterns("__pycache__"))
    changed = copy / "models" / "digits_cnn" / "model.onnx"
    with changed.open("ab") as f:
        f.write(b"\0")
    argv = script_argv("miner", chain, key_cache, [])
    argv[1] = str(copy / "neurons" / "miner.py")
    proc = subprocess.run(argv, cwd=copy, env=env, capture_output=True, text=True, timeout=90)
    assert_one_clear_error(
        proc, f"circuit digits_cnn is not loaded: {changed}: the ONNX file changed since the build",
        "the manifest pins", "this manifest is stale: rebuild with python -m execution_layer.build",
    )


def test_miner_unknown_circuit_lists_the_shipped_ones(chain, env, key_cache):
    proc = run(script_argv("miner", chain, key_cache, ["--miner.circuits", "nope"]), env)
    assert_one_clear_error(proc, "no circuit named 'nope' or with that id", f"have: {', '.join(SHIPPED)}")


def test_validator_unknown_circuit_lists_the_shipped_ones(chain, env, key_cache):
    proc = run(script_argv("validator", chain, key_cache, ["--validator.circuits", "nope"]), env)
    assert_one_clear_error(proc, "no circuit named 'nope' or with that id", f"have: {', '.join(SHIPPED)}")


def test_miner_port_in_use_fails_before_the_slow_start_up(chain, env, key_cache):
    import socket

    with socket.socket() as taken:
        taken.bind(("0.0.0.0", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = run(script_argv("miner", chain, key_cache, ["--axon.port", str(port)]), env)
    line = assert_one_clear_error(proc, f"cannot listen on 0.0.0.0:{port}", "--axon.port")
    assert "proving key" not in proc.stderr, "bound the port only after deriving keys"
    assert line


def test_validator_metrics_port_in_use_names_the_flag(chain, env, key_cache):
    import socket

    with socket.socket() as taken:
        taken.bind(("0.0.0.0", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = run(script_argv("validator", chain, key_cache, ["--metrics.port", str(port)]), env)
    assert_one_clear_error(proc, "Address already in use", "--metrics.port", "choose another")


def test_miner_key_cache_that_cannot_be_created_names_the_path_and_the_flag(chain, env, key_cache, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    proc = run(script_argv("miner", chain, key_cache, ["--keys.cache", str(blocker / "keys")]), env)
    assert_one_clear_error(proc, f"cannot write the key cache {blocker}", "--keys.cache")


def test_validator_state_dir_that_cannot_be_created_fails_before_any_round(chain, env, key_cache, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    proc = run(script_argv("validator", chain, key_cache, ["--state.dir", str(blocker / "state")]), env)
    assert_one_clear_error(proc, f"state folder {blocker / 'state'}", "is not writable", "--state.dir")
    assert "round 1" not in proc.stderr


def test_bad_flag_value_is_argparse_usage_error_exit_2(chain, env, key_cache):
    proc = run(script_argv("miner", chain, key_cache, ["--netuid", "two"]), env)
    assert proc.returncode == 2
    assert "argument --netuid: invalid int value: 'two'" in proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout


def test_miner_on_a_real_network_without_external_ip_refuses_to_start(chain, key_cache, caplog):
    """Through settings: a real network name with the devnet injected as its chain.

    On the devnet the announced IP defaults to 127.0.0.2; on a real network it
    is required, and the miner must say so before serving (one line, exit 1).
    """
    from neurons.devnet.connect import connect_devnet
    from neurons.mining.service import run_miner, settings_from_args

    flags = ["--wallet.name", "m1", "--wallet.path", str(chain.wallets), "--keys.cache", str(key_cache)]
    assert settings_from_args(miner_parser().parse_args(["--subtensor.network", "devnet", *flags])).external_ip == "127.0.0.2"
    settings = settings_from_args(miner_parser().parse_args(["--subtensor.network", "finney", *flags]))
    assert settings.external_ip is None and settings.min_stake == 1000.0

    async def main(stop_event: asyncio.Event) -> None:
        devnet = await connect_devnet(chain.state)
        try:
            await run_miner(settings, stop=stop_event, chain=devnet)
        finally:
            await devnet.close()

    with caplog.at_level(logging.INFO, logger="miner"):
        assert run_daemon(main, "miner") == 1
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == [
        "--axon.external_ip is required on real networks: the chain must know where to reach "
        "this miner (the SDK does not detect it)"
    ]


def _sigterm_once_running(argv: list[str], env, log: Path, running_line: str) -> tuple[int, str]:
    """Start ``argv`` logging to ``log``, SIGTERM it once ``running_line`` shows; (exit code, log)."""
    daemon = Neuron(argv, log=log, env=env)
    try:
        daemon.wait_for_line(running_line, timeout=90)
    finally:
        code = daemon.stop(signal.SIGTERM, timeout=20)
    return code, daemon.text()


def test_sigterm_stops_a_serving_miner_cleanly_with_exit_0(chain, env, key_cache, tmp_path):
    port = free_port()
    argv = script_argv("miner", chain, key_cache, ["--axon.port", str(port)])
    code, text = _sigterm_once_running(argv, env, tmp_path / "miner.log", f"serving on 0.0.0.0:{port}")
    assert code == 0, text
    assert "SIGTERM received: stopping cleanly" in text
    assert text.rstrip().endswith("miner stopped"), text
    assert "Traceback" not in text and not error_lines(text), text


def test_sigterm_stops_a_running_validator_cleanly_with_exit_0(chain, env, key_cache, tmp_path):
    argv = script_argv("validator", chain, key_cache, ["--validator.rounds", "0", "--validator.round_interval", "1"])
    code, text = _sigterm_once_running(argv, env, tmp_path / "validator.log", "round 1 at block")
    assert code == 0, text
    assert "SIGTERM received: stopping cleanly" in text
    assert text.rstrip().endswith("validator stopped"), text
    assert "Traceback" not in text and not error_lines(text), text
