"""Where things are in the checkout under test."""

from __future__ import annotations

import sys
from pathlib import Path

__all__ = ["REPO_ROOT", "DOCS", "PYTHON"]

REPO_ROOT = Path(__file__).resolve().parents[2]
DOCS = REPO_ROOT / "docs"
PYTHON = sys.executable  # the interpreter running the tests (the project's virtualenv)
