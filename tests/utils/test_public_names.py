"""Every package and module of ours declares exactly its public API in ``__all__``.

As httpx's ``tests/test_exported_members.py`` compares ``httpx.__all__`` with the
names the package holds, this compares each ``__all__`` under protocol/, models/,
execution_layer/, neurons/ and utils/ with the public names that module defines.

A module *defines* a public name when its source binds it at top level (also
inside a top-level ``if``/``try``, never under ``if __name__ == "__main__":``)
by ``def``, ``class`` or assignment; a package's ``__init__`` also defines what
it imports from its own submodules (its re-exports). Imports from anywhere else
are uses, not definitions. Not API: names starting with ``_`` (an assigned
dunder such as ``__version__`` is API), a module's logger
(``log = logging.getLogger(...)``) and type variables (``TypeVar``, ``ParamSpec``). A module without ``__all__``
must define no public name; ``__all__`` is a literal list without repeats, and
each of its names exists once the module is imported.
"""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.paths import REPO_ROOT

PACKAGES = ("protocol", "models", "execution_layer", "neurons", "utils", "receipts")


def our_modules(root: Path = REPO_ROOT) -> dict[str, tuple[Path, bool]]:
    """{dotted name: (source file, is a package)} for every module under PACKAGES.

    Found on disk (nothing is imported); a folder counts only when it and every
    folder above it up to the top package hold an ``__init__.py``.
    """
    found = {}
    for top in PACKAGES:
        for path in sorted((root / top).rglob("*.py")):
            parts = path.relative_to(root).with_suffix("").parts
            if not all((root.joinpath(*parts[:i]) / "__init__.py").is_file() for i in range(1, len(parts))):
                continue
            is_package = parts[-1] == "__init__"
            found[".".join(parts[:-1] if is_package else parts)] = (path, is_package)
    return found


def _is_call_to(node: ast.expr | None, names: set[str]) -> bool:
    if not isinstance(node, ast.Call):
        return False
    func = node.func
    return (isinstance(func, ast.Attribute) and func.attr in names) or (
        isinstance(func, ast.Name) and func.id in names
    )


def _is_main_guard(node: ast.If) -> bool:
    test = node.test
    return isinstance(test, ast.Compare) and isinstance(test.left, ast.Name) and test.left.id == "__name__"


def declared_and_defined(name: str, source: str, is_package: bool) -> tuple[list[str] | None, set[str]]:
    """(the module's literal ``__all__``, or None without one; the public names it defines)."""
    declared: list[str] | None = None
    defined: set[str] = set()

    def own(node: ast.ImportFrom) -> bool:
        if node.level:
            return is_package and node.level == 1
        return node.module is not None and node.module.startswith(name + ".")

    def visit(body: list[ast.stmt]) -> None:
        nonlocal declared
        for node in body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                defined.add(node.name)
            elif isinstance(node, (ast.Assign, ast.AnnAssign)):
                if _is_call_to(node.value, {"getLogger", "TypeVar", "ParamSpec", "TypeVarTuple"}):
                    continue
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                for target in targets:
                    for bound in (target, *getattr(target, "elts", ())):
                        if not isinstance(bound, ast.Name):
                            continue
                        if bound.id == "__all__":
                            declared = list(ast.literal_eval(node.value))
                        else:
                            defined.add(bound.id)
            elif isinstance(node, ast.ImportFrom) and own(node):
                defined.update(alias.asname or alias.name for alias in node.names)
            elif isinstance(node, ast.If) and not _is_main_guard(node):
                visit(node.body)
                visit(node.orelse)
            elif isinstance(node, ast.Try):
                visit(node.body)
                visit(node.orelse)
                visit(node.finalbody)
                for handler in node.handlers:
                    visit(handler.body)

    visit(ast.parse(source).body)
    public = {n for n in defined if not n.startswith("_") or (n.startswith("__") and n.endswith("__"))}
    return declared, public


MODULES = our_modules()


def test_every_package_and_module_of_ours_is_checked():
    """The walk finds the packages, their subpackages and plain modules (it cannot silently find none)."""
    expected = {
        "protocol", "protocol._codec", "models", "models.sampling", "models.digits_cnn",
        "execution_layer", "execution_layer.types", "neurons", "neurons.chain", "neurons.chain.client",
        "neurons.devnet", "neurons.shared.config", "neurons.mining.guard", "neurons.validating.scoring",
        "neurons.miner", "neurons.localnet", "utils", "utils.metrics", "receipts", "receipts._check",
    }
    assert expected <= set(MODULES)


@pytest.mark.parametrize("name", sorted(MODULES))
def test_all_is_exactly_the_public_names_the_module_defines(name):
    path, is_package = MODULES[name]
    declared, defined = declared_and_defined(name, path.read_text(), is_package)
    names = declared or []
    assert len(names) == len(set(names)), f"{name}.__all__ repeats a name: {names}"
    undeclared, foreign = sorted(defined - set(names)), sorted(set(names) - defined)
    assert (undeclared, foreign) == ([], []), (
        f"{name}: public but not in __all__ {undeclared}; in __all__ but not defined here {foreign}. "
        "Declare the API in __all__ or make the name private (_name); a package re-exports from its "
        "own submodules."
    )
    missing = [n for n in names if not hasattr(importlib.import_module(name), n)]
    assert not missing, f"{name}.__all__ names what the imported module lacks: {missing}"


SIDE_EFFECT_FREE = [
    "neurons.validating.scoring",
    "neurons.validating.state",
    "neurons.validating.replay_guard",
    "utils.metrics",
    "utils.wandb_log",
    "utils.log",
]


def test_importing_has_no_side_effects_on_logging_or_wandb():
    """A fresh interpreter importing every module gets no log handlers and does not load wandb."""
    code = (
        "import logging, sys\n"
        + "".join(f"import {m}\n" for m in SIDE_EFFECT_FREE)
        + "assert not logging.getLogger().handlers, logging.getLogger().handlers\n"
        + "assert 'wandb' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO_ROOT, timeout=120)
