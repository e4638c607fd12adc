"""The operator's workflow from docs/running_locally.md, followed to the letter, offline.

The wallet comes from the real ``btcli wallet create`` (btcli 11, from the
project's virtualenv). btcli speaks websocket JSON-RPC and cannot reach the
embedded devnet, so registration and the metagraph check use our devnet CLI,
the devnet's stand-in for ``btcli subnets register`` / ``btcli subnets metagraph``.
Must hold: the miner started before registering refuses with the exact command
to register; running that command registers the btcli wallet; the miner then
starts with that wallet and its axon appears on chain; SIGINT (pm2's stop) ends it with exit 0.
"""

from __future__ import annotations

import json
import re
import shlex
import signal
import subprocess
from pathlib import Path

from neurons.devnet import admin
from tests.support.devnet import Devnet
from tests.support.paths import PYTHON, REPO_ROOT
from tests.support.ports import free_port
from tests.support.processes import Neuron, error_lines, isolated_env, run

BTCLI = str(Path(PYTHON).parent / "btcli")


def uid_row(metagraph_output: str, uid: int) -> str:
    rows = [line for line in metagraph_output.splitlines() if line.split()[:1] == [str(uid)]]
    assert len(rows) == 1, metagraph_output
    return rows[0]


def test_btcli_wallet_registers_on_the_devnet_and_its_miner_announces_its_axon(tmp_path):
    env = isolated_env(tmp_path)
    chain = Devnet(state=tmp_path / "chain.sqlite", wallets=tmp_path / "wallets")  # paths only, nothing yet
    keys = tmp_path / "keys"

    # 1. btcli wallet create (no password: a test key), then read the hotkey address back.
    created = run([BTCLI, "wallet", "create", "-w", "miner", "-H", "default", "--no-password",
                   "--wallet-path", str(chain.wallets), "--json"], env)
    assert created.returncode == 0, created.stdout + created.stderr
    assert json.loads(created.stdout)["coldkey_ss58"]
    shown = run([BTCLI, "wallet", "show", "-w", "miner", "-H", "default",
                 "--wallet-path", str(chain.wallets), "--json"], env)
    assert shown.returncode == 0, shown.stdout + shown.stderr
    hotkey = json.loads(shown.stdout)["hotkey_ss58"]

    # 2. A devnet with subnet 2 (on a real network the subnet already exists).
    made = run(chain.cli("create-subnet", "--netuid", "2", "--block-time", "1"), env)
    assert made.returncode == 0, made.stderr

    # 3. Starting the miner before registering says exactly how to register.
    port = free_port()
    miner = [PYTHON, "neurons/miner.py", *chain.chain_flags(), "--wallet.name", "miner",
             "--wallet.hotkey", "default", "--axon.port", str(port), "--keys.cache", str(keys),
             "--miner.circuits", "digits_cnn"]
    refused = run(miner, env)
    assert refused.returncode == 1 and "Traceback" not in refused.stderr, refused.stderr
    [line] = error_lines(refused.stderr)
    assert f"hotkey {hotkey} is not registered on netuid 2 (devnet)" in line
    command = line.split("register it: ", 1)[1]
    assert command.startswith("python -m neurons.devnet register --netuid 2 --wallet.name miner ")

    # 4. Run that command as printed (with the virtualenv's python).
    argv = shlex.split(command)
    registered = run([PYTHON, *argv[1:]], env)
    assert registered.returncode == 0, registered.stderr
    assert registered.stdout.strip() == "registered miner/default on netuid 2 as uid 0"

    # 5. Check the registration: uid 0 is the btcli hotkey, not serving yet.
    graph = run(chain.cli("metagraph", "--netuid", "2"), env)
    assert graph.returncode == 0, graph.stderr
    row = uid_row(graph.stdout, 0)
    assert hotkey[:12] in row and " - " in row

    # 6. The miner starts with the btcli wallet and announces its axon on chain.
    daemon = Neuron(miner, log=tmp_path / "miner.log", env=env)
    try:
        daemon.wait_for_line(f"announced axon 127.0.0.2:{port} on netuid 2", timeout=90)
        graph = run(chain.cli("metagraph", "--netuid", "2"), env)
    finally:
        code = daemon.stop(signal.SIGINT, timeout=20)  # what pm2 sends
    text = daemon.text()
    assert f"hotkey {hotkey} is uid 0 on netuid 2 (devnet)" in text
    assert f"127.0.0.2:{port}" in uid_row(graph.stdout, 0), graph.stdout
    assert code == 0 and "Traceback" not in text and not error_lines(text), text


DOCS = ["running_on_mainnet.md", "running_on_testnet.md", "running_locally.md", "troubleshooting.md",
        "devnet.md", "pm2.md", "../README.md"]
_BTCLI_IN_DOCS = re.compile(r"btcli ((?:wallet|subnets|stake) [^`|\n]*)")


def documented_btcli_commands() -> list[list[str]]:
    """Every ``btcli wallet|subnets|stake …`` command quoted in the operator docs, tokenised."""
    commands = []
    for name in DOCS:
        for match in _BTCLI_IN_DOCS.finditer((REPO_ROOT / "docs" / name).read_text()):
            text = match.group(1).split(" #")[0].strip().rstrip(".")
            commands.append(shlex.split(text))
    return commands


# Parses each command with btcli's own parser (click, via typer) without running it: unknown
# commands, unknown options, missing required options and surplus arguments all fail.
_PARSE_WITH_BTCLI = """
import json, sys
import typer
from bittensor.cli.main import app
root = typer.main.get_command(app)
ctx = root.make_context("btcli", ["wallet", "--help"], resilient_parsing=True)
for tokens in json.load(sys.stdin):
    try:
        group = root.get_command(ctx, tokens[0])
        command = group.get_command(ctx, tokens[1])
        command.make_context(tokens[1], tokens[2:], parent=ctx)
    except Exception as error:
        message = getattr(error, "format_message", lambda: str(error))()
        print(f"btcli {' '.join(tokens)}: {type(error).__name__}: {message}")
"""


def printed_btcli_commands(tmp_path: Path) -> list[list[str]]:
    """The btcli commands the daemons' error lines tell the operator to run."""
    from neurons.chain import WalletMissing, load_wallet, register_command

    printed = [register_command(2, "finney", "miner", "default", wallet_path=tmp_path / "w")]
    admin.wallet_create("only-coldkey", "default", tmp_path / "w")
    for name, hotkey in (("nobody", "default"), ("only-coldkey", "spare")):
        try:
            load_wallet(name, hotkey, tmp_path / "w")
        except WalletMissing as error:
            printed.append(str(error).split("create it: ", 1)[1])
    assert len(printed) == 3
    return [shlex.split(line)[1:] for line in printed]


def test_every_btcli_command_in_the_docs_and_errors_parses_under_btcli_11(tmp_path):
    """A btcli upgrade that renames a command or an option fails here, not in a user's shell."""
    commands = documented_btcli_commands() + printed_btcli_commands(tmp_path)
    assert len(commands) > 20
    proc = subprocess.run(
        [PYTHON, "-c", _PARSE_WITH_BTCLI], input=json.dumps(commands), cwd=REPO_ROOT,
        env=isolated_env(tmp_path), capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "", proc.stdout
