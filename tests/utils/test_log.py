"""Logging setup: one line per event with time, level, component and message."""

from __future__ import annotations

import argparse
import io
import logging
import re

import pytest

from utils.log import _NOISY, add_logging_args, configure_logging


@pytest.fixture
def restore_root():
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    noisy = {name: logging.getLogger(name).level for name in _NOISY}
    yield
    for name, lvl in noisy.items():
        logging.getLogger(name).setLevel(lvl)
    for h in list(root.handlers):
        root.removeHandler(h)
    for h in handlers:
        root.addHandler(h)
    root.setLevel(level)
    logging.captureWarnings(False)


def test_one_line_per_event_with_time_level_component_and_message(restore_root):
    out = io.StringIO()
    configure_logging("validator", debug=False, stream=out)
    logging.getLogger("neurons.validating.scoring").info("uid %d hotkey %s: scored %.2f", 3, "5Fhk", 0.82)
    logging.getLogger("neurons.validating.scoring").debug("hidden")
    lines = out.getvalue().splitlines()
    assert len(lines) == 1
    assert re.fullmatch(
        r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ INFO validator neurons\.validating\.scoring: uid 3 hotkey 5Fhk: scored 0\.82",
        lines[0],
    )


def test_debug_shows_debug_lines_and_reconfiguring_does_not_duplicate(restore_root):
    out = io.StringIO()
    configure_logging("miner", debug=True, stream=out)
    configure_logging("miner", debug=True, stream=out)
    logging.getLogger("x").debug("detail")
    assert out.getvalue().count("DEBUG miner x: detail") == 1


def test_the_components_own_logger_is_not_repeated(restore_root):
    out = io.StringIO()
    configure_logging("validator", debug=False, stream=out)
    logging.getLogger("validator").info("round 1: 1/1 verified")
    assert out.getvalue().split("Z ", 1)[1] == "INFO validator: round 1: 1/1 verified\n"


def test_noisy_dependencies_are_held_at_warning_without_debug(restore_root, monkeypatch):
    # A test that ran uvicorn with its default log config leaves its own handlers behind;
    # the daemons pass log_config=None, so start from plain loggers like they do.
    for name in ("uvicorn", "uvicorn.error"):
        logger = logging.getLogger(name)
        monkeypatch.setattr(logger, "handlers", [])
        monkeypatch.setattr(logger, "propagate", True)
        monkeypatch.setattr(logger, "level", logging.NOTSET)
    out = io.StringIO()
    configure_logging("miner", debug=False, stream=out)
    logging.getLogger("httpx").info("HTTP Request: GET ...")
    logging.getLogger("uvicorn.error").info("Uvicorn running on http://0.0.0.0:8091 (Press CTRL+C to quit)")
    assert out.getvalue() == ""
    logging.getLogger("uvicorn.error").error("[Errno 98] address already in use")
    assert "ERROR miner uvicorn.error: [Errno 98]" in out.getvalue()


def test_logging_debug_flag_maps_to_debug():
    parser = argparse.ArgumentParser()
    add_logging_args(parser)
    assert parser.parse_args(["--logging.debug"]).logging_debug is True
    assert parser.parse_args([]).logging_debug is False
