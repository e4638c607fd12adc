"""The flags operators type, and the reference page generated from them."""

from pathlib import Path

import pytest

from neurons.config import markdown_reference, miner_parser, validator_parser, localnet_parser

ROOT = Path(__file__).resolve().parents[2]


def test_command_line_reference_matches_the_parsers():
    # Regenerate with: python -m neurons.config > docs/command_line_arguments.md
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
