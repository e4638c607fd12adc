"""Every module of the validator's scoring and observability layer exports exactly what it names."""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

import pytest

MODULES = [
    "neurons.validating.scoring",
    "neurons.validating.state",
    "neurons.validating.replay_guard",
    "utils.metrics",
    "utils.wandb_log",
    "utils.log",
]


@pytest.mark.parametrize("name", MODULES)
def test_all_names_exist(name):
    module = importlib.import_module(name)
    missing = [n for n in module.__all__ if not hasattr(module, n)]
    assert not missing, f"{name}.__all__ names missing attributes: {missing}"


def test_importing_has_no_side_effects_on_logging_or_wandb():
    """A fresh interpreter importing every module gets no log handlers and does not load wandb."""
    code = (
        "import logging, sys\n"
        + "".join(f"import {m}\n" for m in MODULES)
        + "assert not logging.getLogger().handlers, logging.getLogger().handlers\n"
        + "assert 'wandb' not in sys.modules\n"
    )
    root = Path(__file__).resolve().parents[2]
    subprocess.run([sys.executable, "-c", code], check=True, cwd=root, timeout=120)
