"""The devnet admin CLI: the btcli-like workflow end to end, and bad input."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

import bittensor as bt
import pytest

from neurons.chain import connect
from neurons.devnet.cli import build_parser, main
from neurons.devnet.store import Store
from neurons.devnet.substrate import DevnetSubstrate
from tests.support.paths import REPO_ROOT

ROOT = REPO_ROOT


@pytest.fixture
def paths(tmp_path):
    return ["--state", str(tmp_path / "chain.sqlite"), "--wallet.path", str(tmp_path / "wallets")]


def cli(capsys, *argv):
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_workflow_create_wallets_register_stake_permit_metagraph(capsys, paths):
    """create-subnet → wallet-create → register → stake → permit → metagraph, like btcli."""
    assert cli(capsys, "create-subnet", "--netuid", "2", "--block-time", "0.25", *paths)[0] == 0
    for name in ("val", "mine"):
        code, out, _ = cli(capsys, "wallet-create", "--wallet.name", name, *paths)
        assert code == 0 and "hotkey 5" in out
    code, out, _ = cli(capsys, "register", "--netuid", "2", "--wallet.name", "val", *paths)
    assert code == 0 and "uid 0" in out
    code, out, _ = cli(capsys, "register", "--netuid", "2", "--wallet.name", "mine", *paths)
    assert code == 0 and "uid 1" in out
    assert cli(capsys, "stake", "--netuid", "2", "--amount", "50", "--wallet.name", "val", *paths)[0] == 0
    assert cli(capsys, "permit", "--netuid", "2", "--wallet.name", "val", *paths)[0] == 0
    code, out, _ = cli(capsys, "metagraph", "--netuid", "2", *paths)
    assert code == 0
    rows = out.splitlines()
    assert rows[0].startswith("netuid 2 at block") and "INCENTIVE" in rows[1]
    assert "50.000" in rows[2] and " yes " in rows[2] and " no " in rows[3]


def test_wallet_create_is_idempotent_and_never_prompts(capsys, paths):
    first = cli(capsys, "wallet-create", "--wallet.name", "w", "--wallet.hotkey", "h", *paths)[1]
    second = cli(capsys, "wallet-create", "--wallet.name", "w", "--wallet.hotkey", "h", *paths)[1]
    assert first == second


@pytest.mark.parametrize(
    "argv, expected",
    [
        (["register", "--netuid", "2", "--wallet.name", "ghost"], "btcli wallet create -w ghost"),
        (["metagraph", "--netuid", "5"], "subnet 5 does not exist"),
        (["permit", "--netuid", "2", "--wallet.name", "val"], "not registered"),
    ],
)
def test_bad_input_prints_one_line_and_exits_1(capsys, paths, argv, expected):
    """Missing wallet, missing subnet, unregistered hotkey: one stderr line, exit 1, no traceback."""
    cli(capsys, "create-subnet", "--netuid", "2", *paths)
    cli(capsys, "wallet-create", "--wallet.name", "val", *paths)
    code, _, err = cli(capsys, *argv, *paths)
    assert code == 1
    assert expected in err and err.count("\n") == 1 and "Traceback" not in err


def test_duplicate_subnet_and_duplicate_registration_are_refused(capsys, paths):
    cli(capsys, "create-subnet", "--netuid", "2", *paths)
    code, _, err = cli(capsys, "create-subnet", "--netuid", "2", *paths)
    assert code == 1 and "already exists" in err
    cli(capsys, "wallet-create", "--wallet.name", "val", *paths)
    cli(capsys, "register", "--netuid", "2", "--wallet.name", "val", *paths)
    code, _, err = cli(capsys, "register", "--netuid", "2", "--wallet.name", "val", *paths)
    assert code == 1 and "HotKeyAlreadyRegisteredInSubNet" in err


def test_every_flag_has_help():
    parser = build_parser()
    subparsers = parser._subparsers._group_actions[0].choices
    assert set(subparsers) == {
        "create-subnet", "wallet-create", "register", "stake", "permit", "set-hyperparameter",
        "set-stake-threshold", "deregister", "swap-hotkey", "metagraph", "reveals",
    }
    for name, sub in subparsers.items():
        for action in sub._actions:
            assert action.help, f"{name} {action.option_strings} has no help"


def test_global_flags_work_before_the_command(capsys, tmp_path):
    state = str(tmp_path / "c.sqlite")
    assert main(["--state", state, "create-subnet", "--netuid", "3"]) == 0
    assert main(["--state", state, "metagraph", "--netuid", "3"]) == 0
    assert "netuid 3" in capsys.readouterr().out


def test_create_subnet_sets_the_weight_limits_the_metagraph_then_carries(capsys, tmp_path):
    state = tmp_path / "c.sqlite"
    assert main(["--state", str(state), "create-subnet", "--netuid", "3",
                 "--min-allowed-weights", "4", "--max-weights-limit", "19660"]) == 0

    async def go():
        chain = await connect("devnet", substrate=DevnetSubstrate(Store(state)))
        try:
            return await chain.metagraph(3)
        finally:
            await chain.close()

    view = asyncio.run(go())
    assert (view.min_allowed_weights, view.max_weights_limit) == (4, 19660)


def test_python_dash_m_entry_point_reports_errors_without_traceback(tmp_path):
    """metagraph on a missing state file: one line naming create-subnet, and no file made;
    on an existing chain without the subnet: the hint carries the non-default --state."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "BTCLI_TOKEN_SYMBOLS_CACHE": str(tmp_path / "s")}
    state = tmp_path / "c.sqlite"

    def metagraph():
        return subprocess.run(
            [sys.executable, "-m", "neurons.devnet", "metagraph", "--netuid", "4", "--state", str(state)],
            capture_output=True, text=True, env=env, timeout=120,
        )

    proc = metagraph()
    assert proc.returncode == 1
    assert proc.stderr.strip() == (
        f"error: no devnet state at {state}; create it with python -m neurons.devnet "
        f"--state {state} create-subnet --netuid 4 (or run neurons/localnet.py)"
    )
    assert not state.exists()
    assert main(["--state", str(state), "create-subnet", "--netuid", "3"]) == 0
    proc = metagraph()
    assert proc.returncode == 1
    assert proc.stderr.strip() == (
        "error: subnet 4 does not exist on devnet; check --netuid, or create it: "
        f"python -m neurons.devnet create-subnet --netuid 4 --state {state}"
    )


@pytest.mark.parametrize("flag, value", [("--block-time", "0"), ("--tempo", "0")])
def test_invalid_subnet_parameters_are_refused_and_nothing_is_created(capsys, paths, flag, value):
    code, _, err = cli(capsys, "create-subnet", "--netuid", "2", flag, value, *paths)
    assert code == 1 and err.startswith("error: create-subnet:")
    code, _, err = cli(capsys, "metagraph", "--netuid", "2", *paths)
    assert code == 1 and ("subnet 2 does not exist" in err or "no devnet state at" in err)


def test_set_hyperparameter_changes_a_running_subnet_as_the_sdk_reads_it(capsys, paths, tmp_path):
    """weights_version raised mid-run: the SDK's WeightsVersionKey read (what the validator compares
    its own key with) shows the new value; the command prints old -> new."""
    assert cli(capsys, "create-subnet", "--netuid", "2", *paths)[0] == 0
    code, out, _ = cli(capsys, "set-hyperparameter", "--netuid", "2", "--name", "weights_version",
                       "--value", "10200", *paths)
    assert code == 0 and out.strip() == "weights_version on netuid 2: 0 -> 10200"

    async def read():
        chain = await connect("devnet", substrate=DevnetSubstrate(Store(tmp_path / "chain.sqlite")))
        try:
            return await chain.weights_version_key(2), (await chain.metagraph(2)).tempo
        finally:
            await chain.close()

    cli(capsys, "set-hyperparameter", "--netuid", "2", "--name", "tempo", "--value", "7", *paths)
    assert asyncio.run(read()) == (10200, 7)


@pytest.mark.parametrize(
    "name, value, words",
    [("tempo", "0", "tempo must be within 1..65535"),
     ("max_allowed_uids", "1", "2 neurons are registered, more than 1")],
)
def test_set_hyperparameter_refuses_what_the_chain_refuses_in_one_line(capsys, paths, name, value, words):
    assert cli(capsys, "create-subnet", "--netuid", "2", *paths)[0] == 0
    for wallet in ("a", "b"):
        cli(capsys, "wallet-create", "--wallet.name", wallet, *paths)
        cli(capsys, "register", "--netuid", "2", "--wallet.name", wallet, *paths)
    code, _, err = cli(capsys, "set-hyperparameter", "--netuid", "2", "--name", name, "--value", value, *paths)
    assert code == 1 and words in err and err.count("\n") == 1


def test_set_hyperparameter_names_are_the_sdks(capsys, paths):
    """An unknown name is a usage error listing the choices (argparse, exit 2)."""
    with pytest.raises(SystemExit) as exited:
        main(["set-hyperparameter", "--netuid", "2", "--name", "weights_version_key", "--value", "1", *paths])
    assert exited.value.code == 2 and "weights_version" in capsys.readouterr().err


def test_permit_override_clear_stake_threshold_and_max_validators_from_the_cli(capsys, paths, tmp_path):
    assert cli(capsys, "create-subnet", "--netuid", "2", "--max-uids", "4",
               "--max-allowed-validators", "3", *paths)[0] == 0
    cli(capsys, "wallet-create", "--wallet.name", "val", *paths)
    cli(capsys, "register", "--netuid", "2", "--wallet.name", "val", *paths)
    code, out, _ = cli(capsys, "permit", "--netuid", "2", "--wallet.name", "val", "--revoke", *paths)
    assert code == 0 and "revoked" in out and "until --clear" in out
    code, out, _ = cli(capsys, "permit", "--netuid", "2", "--wallet.name", "val", "--clear", *paths)
    assert code == 0 and "cleared the permit override for uid 0" in out
    code, out, _ = cli(capsys, "set-stake-threshold", "--amount", "2.5", *paths)
    assert code == 0 and out.strip() == "stake threshold: 0 -> 2.5 TAO"
    code, _, err = cli(capsys, "set-hyperparameter", "--netuid", "2", "--name", "max_validators",
                       "--value", "5", *paths)
    assert code == 1 and "MaxValidatorsLargerThanMaxUIds" in err
    assert cli(capsys, "set-hyperparameter", "--netuid", "2", "--name", "max_validators",
               "--value", "2", *paths)[0] == 0

    async def read():
        async with bt.Client("devnet", substrate=DevnetSubstrate(Store(tmp_path / "chain.sqlite"))) as client:
            return (await client.read("subnet_hyperparameters", netuid=2))["max_validators"], \
                await client.query(("SubtensorModule", "StakeThreshold"), [])

    assert asyncio.run(read()) == (2, 2_500_000_000)
def test_commit_reveal_is_on_by_default_off_with_the_create_flag_and_set_by_its_sdk_name(capsys, paths, tmp_path):
    """create-subnet gives a finney-like subnet (commit-reveal on, period 1); --no-commit-reveal
    and --commit-reveal-period change that; set-hyperparameter commit_reveal_weights_enabled /
    commit_reveal_period change a running one, as the SDK's hyperparameter read shows."""

    async def read(netuid):
        substrate = DevnetSubstrate(Store(tmp_path / "chain.sqlite"))
        async with bt.Client("devnet", substrate=substrate) as client:
            params = await client.read("subnet_hyperparameters", netuid=netuid)
        return params["commit_reveal_weights_enabled"], params["commit_reveal_period"]

    assert cli(capsys, "create-subnet", "--netuid", "2", *paths)[0] == 0
    assert cli(capsys, "create-subnet", "--netuid", "3", "--no-commit-reveal",
               "--commit-reveal-period", "4", *paths)[0] == 0
    assert (asyncio.run(read(2)), asyncio.run(read(3))) == ((True, 1), (False, 4))
    code, out, _ = cli(capsys, "set-hyperparameter", "--netuid", "2", "--name",
                       "commit_reveal_weights_enabled", "--value", "0", *paths)
    assert code == 0 and out.strip() == "commit_reveal_weights_enabled on netuid 2: 1 -> 0"
    assert cli(capsys, "set-hyperparameter", "--netuid", "2", "--name", "commit_reveal_period",
               "--value", "3", *paths)[0] == 0
    assert asyncio.run(read(2)) == (False, 3)
    code, _, err = cli(capsys, "set-hyperparameter", "--netuid", "2", "--name", "commit_reveal_period",
                       "--value", "101", *paths)
    assert code == 1 and "commit_reveal_period must be within 1..100" in err


def test_yuma3_is_on_by_default_off_with_no_yuma3_and_set_by_its_sdk_name(capsys, paths, tmp_path):
    """create-subnet gives a new subnet's Yuma3On (on, as init_new_network sets it); --no-yuma3
    turns it off; set-hyperparameter yuma3_enabled (sudo_set_yuma3_enabled) changes a running
    one. The SDK sees it both ways: ``yuma_version`` in subnet_hyperparameters (3 or 2) and the
    ``Yuma3On`` storage item btcli's listing queries; a missing subnet reads the default, off."""
    from bittensor import hyperparams

    async def read(netuid):
        substrate = DevnetSubstrate(Store(tmp_path / "chain.sqlite"))
        async with bt.Client("devnet", substrate=substrate) as client:
            params = await client.read("subnet_hyperparameters", netuid=netuid)
            stored = await client.query(hyperparams.STORAGE_ITEMS["yuma3_enabled"], [netuid])
        return (params or {}).get("yuma_version"), stored

    assert cli(capsys, "create-subnet", "--netuid", "2", *paths)[0] == 0
    assert cli(capsys, "create-subnet", "--netuid", "3", "--no-yuma3", *paths)[0] == 0
    assert (asyncio.run(read(2)), asyncio.run(read(3))) == ((3, True), (2, False))
    assert asyncio.run(read(9)) == (None, False)
    code, out, _ = cli(capsys, "set-hyperparameter", "--netuid", "3", "--name", "yuma3_enabled",
                       "--value", "1", *paths)
    assert code == 0 and out.strip() == "yuma3_enabled on netuid 3: 0 -> 1"
    assert asyncio.run(read(3)) == (3, True)
    code, _, err = cli(capsys, "set-hyperparameter", "--netuid", "3", "--name", "yuma3_enabled",
                       "--value", "2", *paths)
    assert code == 1 and "yuma3_enabled must be within 0..1" in err


def test_reveals_of_a_subnet_without_commits_prints_an_empty_record(capsys, paths):
    assert cli(capsys, "create-subnet", "--netuid", "2", *paths)[0] == 0
    code, out, _ = cli(capsys, "reveals", "--netuid", "2", *paths)
    assert code == 0 and "0 reveals, 0 pending commits" in out
    code, _, err = cli(capsys, "reveals", "--netuid", "5", *paths)
    assert code == 1 and "subnet 5 does not exist" in err


def test_the_finney_profile_creates_finneys_new_subnet_and_each_flag_overrides_it(capsys, paths, tmp_path):
    """--profile finney: the SDK reads finney's values (tempo 360, weights rate limit 100,
    commit-reveal on with period 1, immunity 5000, 64 permits, min 1 weight, no max-weight
    limit, Yuma3 on) and a new chain gets finney's 12 s blocks; an explicit flag wins over the profile;
    a profile on an existing chain leaves its block time alone (block time is chain-wide)."""

    async def read(netuid):
        substrate = DevnetSubstrate(Store(tmp_path / "chain.sqlite"))
        async with bt.Client("devnet", substrate=substrate) as client:
            params = await client.read("subnet_hyperparameters", netuid=netuid)
            seconds = await substrate.block_time()
        keys = ("tempo", "weights_rate_limit", "commit_reveal_weights_enabled", "commit_reveal_period",
                "immunity_period", "max_validators", "min_allowed_weights", "max_weights_limit",
                "yuma_version")
        return tuple(params[k] for k in keys), seconds

    code, out, _ = cli(capsys, "create-subnet", "--netuid", "2", "--profile", "finney", *paths)
    assert code == 0 and "profile finney" in out and "an epoch every 360 blocks (1.2 h)" in out
    assert asyncio.run(read(2)) == ((360, 100, True, 1, 5000, 64, 1, 65535, 3), 12.0)
    code, out, _ = cli(capsys, "create-subnet", "--netuid", "3", "--profile", "finney", "--tempo", "20",
                       "--no-commit-reveal", "--no-yuma3", "--block-time", "0.25", *paths)
    assert code == 0 and "blocks of 0.25 s" in out
    assert asyncio.run(read(3)) == ((20, 100, False, 1, 5000, 64, 1, 65535, 2), 0.25)
    assert cli(capsys, "create-subnet", "--netuid", "4", "--profile", "finney", *paths)[0] == 0
    assert asyncio.run(read(4))[1] == 0.25
