"""pm2: ``ecosystem.config.js`` starts exactly what docs/pm2.md says, and really starts a miner.

The documented commands are read from docs/pm2.md (so the page cannot drift
from the file): each "## Start a <app>" section holds a ```bash block with the
environment and ``pm2 start ecosystem.config.js --only <app>``, then, after
"This runs exactly:", the command pm2 will run. ``node`` evaluates the config
under that environment, as pm2 does.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from neurons.shared.config import DEFAULT_NETUID, miner_parser, validator_parser
from tests.support.devnet import make_devnet
from tests.support.paths import REPO_ROOT as REPO
from tests.support.ports import free_port
from tests.support.processes import LOG_LINE, isolated_env

NODE = shutil.which("node")
PM2 = shutil.which("pm2")
needs_node = pytest.mark.skipif(NODE is None, reason="node is not installed")

DOC = REPO / "docs" / "pm2.md"
CONFIG = REPO / "ecosystem.config.js"


def _bash_blocks(section: str) -> list[str]:
    return re.findall(r"```bash\n(.*?)```", section, flags=re.S)


def documented(app: str) -> tuple[dict[str, str], list[str]]:
    """(environment, command) of the doc's "## Start a <app>" section."""
    text = DOC.read_text()
    match = re.search(rf"^## Start a {app}\n(.*?)(?=^## )", text, flags=re.S | re.M)
    assert match, f"docs/pm2.md has no '## Start a {app}' section"
    start, runs = _bash_blocks(match[1])[:2]
    env: dict[str, str] = {}
    words = shlex.split(start.replace("\\\n", " ").splitlines()[0])
    while "=" in words[0]:
        name, value = words.pop(0).split("=", 1)
        env[name] = value
    assert words == ["pm2", "start", "ecosystem.config.js", "--only", app], words
    assert "This runs exactly:" in match[1]
    return env, shlex.split(runs.replace("\\\n", " "))


def evaluate(env: dict[str, str]) -> dict[str, dict]:
    """The apps of ecosystem.config.js as node sees them under ``env`` alone (plus PATH/HOME)."""
    clean = {"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/"), **env}
    out = subprocess.run(
        [NODE, "-e", "console.log(JSON.stringify(require(process.argv[1]).apps))", str(CONFIG)],
        env=clean, capture_output=True, text=True, check=True, timeout=30,
    ).stdout
    return {app["name"]: app for app in json.loads(out)}


def command_of(app: dict) -> list[str]:
    """The command line pm2 runs for ``app``, with paths relative to the repository like the doc."""
    interpreter = Path(app["interpreter"])
    shown = str(interpreter.relative_to(REPO)) if interpreter.is_relative_to(REPO) else str(interpreter)
    assert Path(app["cwd"]) == REPO
    return [shown, app["script"], *app["args"]]


@needs_node
@pytest.mark.parametrize("app, parser", [("miner", miner_parser), ("validator", validator_parser)])
def test_documented_pm2_start_runs_the_documented_command(app, parser):
    """pm2 start --only <app> under the doc's variables runs the doc's command, and those flags parse."""
    env, command = documented(app)
    apps = evaluate(env)
    assert command_of(apps[app]) == command
    assert command[1] == f"neurons/{app}.py"
    parser().parse_args(command[2:])  # exits (fails the test) on an unknown flag


@needs_node
def test_every_variable_the_config_reads_is_documented_and_back():
    """The variable table in docs/pm2.md lists exactly the environment variables ecosystem.config.js reads."""
    source = CONFIG.read_text()
    read = set(re.findall(r'env\("([A-Z_]+)"', source)) | set(re.findall(r"process\.env\.([A-Z_]+)", source))
    per_app = re.findall(r"(?:env\(|process\.env\[)`\$\{prefix\}_([A-Z_]+)`", source)  # MINER_x, VALIDATOR_x
    read |= {f"{prefix}_{suffix}" for prefix in ("MINER", "VALIDATOR") for suffix in per_app}
    table = DOC.read_text().split("| variable |", 1)[1].split("\n\n", 1)[0]
    documented_names = set()
    for row in table.splitlines()[2:]:
        documented_names |= set(re.findall(r"`([A-Z_]+)(?:=[^`]*)?`", row.split("|")[1]))
    assert read == documented_names


@needs_node
def test_defaults_without_any_variable_are_a_finney_miner_on_netuid_2():
    """With no variables set, the miner app targets finney, netuid 2, wallet default/default, port 8091."""
    args = miner_parser().parse_args(evaluate({})["miner"]["args"])
    assert (args.network, args.netuid, args.wallet_name, args.wallet_hotkey, args.axon_port) == (
        "finney", DEFAULT_NETUID, "default", "default", 8091)
    assert Path(evaluate({})["miner"]["interpreter"]) == REPO / ".venv" / "bin" / "python"


@pytest.mark.skipif(PM2 is None, reason="pm2 is not installed (./setup.sh --with-pm2)")
def test_pm2_starts_a_miner_that_announces_its_axon_and_stops_on_delete(tmp_path, key_cache):
    """pm2 start --only miner on a tmp devnet: the axon appears in the metagraph; pm2 delete stops it cleanly."""
    net = make_devnet(tmp_path, validators=("val",), miners=("m1",), weights_rate_limit=3)
    port = free_port()
    name = f"miner-test-{os.getpid()}"
    # pm2's daemon listens on unix sockets under PM2_HOME: keep the path short (108-byte limit).
    home = Path(tempfile.mkdtemp(prefix="pm2-"))
    env = isolated_env(
        tmp_path, PM2_HOME=str(home), PYTHON=sys.executable, NETWORK="devnet", NETUID=str(net.netuid),
        DEVNET_STATE=str(net.state), WALLET_PATH=str(net.wallets), MINER_WALLET="m1", AXON_PORT=str(port),
        KEY_CACHE=str(key_cache), MINER_NAME=name, MINER_EXTRA_ARGS="--miner.circuits digits_cnn",
    )

    def pm2(*argv: str) -> str:
        return subprocess.run([PM2, *argv], cwd=REPO, env=env, capture_output=True, text=True, check=True,
                              timeout=60).stdout

    log = home / "logs" / f"{name}-error.log"  # pm2's file for the app's stderr
    try:
        pm2("start", "ecosystem.config.js", "--only", name)
        axon = _wait_for_axon(net, uid=1, timeout=90, log=log)
        assert axon == ("127.0.0.2", port)  # the devnet default: the chain refuses to list 127.0.0.1
        status = {p["name"]: p["pm2_env"]["status"] for p in json.loads(pm2("jlist"))}
        assert status[name] == "online"
        pm2("delete", name)  # SIGINT, then up to kill_timeout for a clean stop
        lines = log.read_text().splitlines()
        assert lines[-1].endswith("INFO miner: miner stopped")
        assert all(LOG_LINE.fullmatch(line) for line in lines), "\n".join(lines)
    finally:
        subprocess.run([PM2, "kill"], env=env, capture_output=True, timeout=60)
        shutil.rmtree(home, ignore_errors=True)


def _wait_for_axon(net, *, uid: int, timeout: float, log: Path) -> tuple[str, int] | None:
    import asyncio

    from neurons.devnet.connect import connect_devnet

    async def axon() -> tuple[str, int] | None:
        chain = await connect_devnet(net.state)
        try:
            me = (await chain.metagraph(net.netuid)).by_uid(uid)
            return me.axon if me is not None else None
        finally:
            await chain.close()

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = asyncio.run(axon())
        if found is not None:
            return found
        time.sleep(0.5)
    raise AssertionError(f"no axon for uid {uid} within {timeout:.0f}s; pm2 log:\n"
                         f"{log.read_text() if log.exists() else '(none)'}")


def test_every_prometheus_metric_is_listed_in_the_monitoring_table():
    """docs/pm2.md's metric table names exactly the metric families a neuron exports."""
    from utils.metrics import Metrics

    exported = {family.name for family in Metrics().registry.collect()}  # counters without "_total"
    section = DOC.read_text().split("**Prometheus.**", 1)[1].split("\n\n")[1]
    listed = set(re.findall(r"^\| `(poi_\w+)", section, flags=re.M))
    assert {name.removesuffix("_total") for name in listed} == exported
