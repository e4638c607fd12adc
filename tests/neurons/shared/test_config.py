"""The flags operators type, and the reference page generated from them."""


import pytest

from neurons.shared.config import localnet_parser, markdown_reference, miner_parser, validator_parser
from tests.support.paths import REPO_ROOT

ROOT = REPO_ROOT


def test_command_line_reference_matches_the_parsers():
    # Regenerate with: python -m neurons.shared.config > docs/command_line_arguments.md
    committed = (ROOT / "docs" / "command_line_arguments.md").read_text()
    assert committed == markdown_reference(), "docs/command_line_arguments.md is out of date"


@pytest.mark.parametrize("parser", [miner_parser(), validator_parser(), localnet_parser()])
def test_every_flag_explains_itself(parser):
    for action in parser._actions:
        assert action.help, f"{parser.prog}: {action.option_strings} has no help text"


def test_pm2_style_flags_parse_with_finney_netuid_2_defaults():
    args = miner_parser().parse_args(
        ["--wallet.name", "m", "--wallet.hotkey", "h", "--axon.port", "9000", "--logging.debug"]
    )
    assert (args.netuid, args.network) == (2, "finney")
    assert (args.wallet_name, args.wallet_hotkey, args.axon_port, args.logging_debug) == ("m", "h", 9000, True)
    v = validator_parser().parse_args(["--netuid", "7", "--subtensor.network", "devnet"])
    assert (v.netuid, v.network) == (7, "devnet")


def test_unknown_flag_exits_with_usage_error(capsys):
    with pytest.raises(SystemExit) as e:
        miner_parser().parse_args(["--wallet.nmae", "x"])
    assert e.value.code == 2
    assert "unrecognized arguments" in capsys.readouterr().err


@pytest.mark.parametrize(
    "parser, argv, message",
    [
        (miner_parser, ["--miner.workers", "0"], "is not a whole number of at least 1"),
        (miner_parser, ["--miner.max_queue", "-1"], "is not a whole number of at least 0"),
        (miner_parser, ["--axon.port", "99999"], "is not a TCP port"),
        (miner_parser, ["--metrics.port", "70000"], "is not a TCP port (1-65535) or 0 for off"),
        (miner_parser, ["--miner.resync_interval", "0"], "at least 0.05"),
        (miner_parser, ["--miner.extra_latency", "nan"], "is not a number of seconds"),
        (validator_parser, ["--validator.concurrency", "0"], "is not a whole number of at least 1"),
        (validator_parser, ["--validator.verify_workers", "0"], "is not a whole number of at least 1"),
        (validator_parser, ["--netuid", "two"], "invalid int value: 'two'"),
        (localnet_parser, ["--miners", "0"], "is not a whole number of at least 1"),
    ],
)
def test_out_of_range_numbers_are_usage_errors_before_anything_starts(parser, argv, message, capsys):
    """Tried: values that would hang (0 workers or concurrency) or crash late (bad ports).
    Must hold: argparse refuses them with exit 2 and a message naming the flag."""
    with pytest.raises(SystemExit) as e:
        parser().parse_args(argv)
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert argv[0] in err and message in err


def test_metrics_port_zero_still_means_off():
    assert miner_parser().parse_args(["--metrics.port", "0"]).metrics_port == 0
