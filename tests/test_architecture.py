"""The layering in docs/architecture.md, checked on the real import graph.

The rule is written once, as the table under "Allowed imports" in
docs/architecture.md; this test reads that table, parses every module of ours
(imports inside functions count: a lazy import is still a dependency) and
fails naming each import that the table does not allow. A checker that could
not fail would prove nothing, so it is also run on a small tree with a
forbidden import.
"""

from __future__ import annotations

import ast
import re
import subprocess
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.paths import DOCS, PYTHON, REPO_ROOT

OURS = ("protocol", "models", "execution_layer", "utils", "neurons", "receipts", "bench")  # scanned
TARGETS = OURS + ("tests",)  # what counts as an import of ours


@dataclass(frozen=True)
class Import:
    source: str  # the importing module, dotted
    target: str  # the imported module, dotted (ours only)
    line: int


def read_rules(doc: Path) -> dict[str, frozenset[str]]:
    """The "Allowed imports" table: package -> the packages of ours it may import."""
    text = doc.read_text()
    section = text.split("## Allowed imports", 1)[1].split("\n## ", 1)[0]
    rules: dict[str, frozenset[str]] = {}
    for row in section.splitlines():
        cells = [c.strip() for c in row.strip().strip("|").split("|")]
        if len(cells) != 2 or not cells[0].startswith("`"):
            continue
        allowed = frozenset(re.findall(r"`([\w.]+)`", cells[1]))
        rules[cells[0].strip("`")] = allowed
    return rules


def package_of(module: str, packages: list[str]) -> str | None:
    """The most specific package of the rules that ``module`` belongs to."""
    matches = [p for p in packages if module == p or module.startswith(p + ".")]
    return max(matches, key=len) if matches else None


def module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(root: Path, path: Path) -> list[Import]:
    """Every import of one of our packages in ``path``, wherever it stands in the file."""
    source = module_name(root, path)
    package = source if path.name == "__init__.py" else source.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                stem = ".".join(base + ([node.module] if node.module else []))
            else:
                stem = node.module or ""
            # "from pkg import mod" may import a submodule: count the most specific name.
            names = [f"{stem}.{alias.name}" if (root / Path(*f"{stem}.{alias.name}".split("."))).exists()
                     or (root / Path(*f"{stem}.{alias.name}".split("."))).with_suffix(".py").exists()
                     else stem for alias in node.names]
        else:
            continue
        found += [Import(source, name, node.lineno) for name in names if name.split(".")[0] in TARGETS]
    return found


def violations(root: Path, rules: dict[str, frozenset[str]]) -> list[str]:
    """One line per import that the rules forbid (a package may always import itself)."""
    packages = list(rules)
    out = []
    for top in OURS:
        for path in sorted((root / top).rglob("*.py")) if (root / top).is_dir() else []:
            for imp in imports_of(root, path):
                mine, theirs = package_of(imp.source, packages), package_of(imp.target, packages)
                if mine is None:
                    out.append(f"{path.relative_to(root)}: no rule for package of {imp.source}")
                elif theirs is not None and theirs != mine and not _allowed(mine, theirs, rules):
                    out.append(f"{path.relative_to(root)}:{imp.line}: {mine} imports {imp.target}")
    return list(dict.fromkeys(out))  # "from x import a, b" is one line, however many names


def _allowed(mine: str, theirs: str, rules: dict[str, frozenset[str]]) -> bool:
    # Listed names only: neurons.chain is not allowed by being inside neurons.
    return theirs in rules[mine]


def test_the_real_import_graph_follows_the_documented_layering():
    rules = read_rules(DOCS / "architecture.md")
    assert violations(REPO_ROOT, rules) == []


def test_the_rules_cover_every_package_of_ours():
    rules = read_rules(DOCS / "architecture.md")
    for top in OURS:
        for init in (REPO_ROOT / top).rglob("__init__.py"):
            assert package_of(module_name(REPO_ROOT, init), list(rules)) is not None, init


def test_a_forbidden_import_is_reported_with_its_file_and_line(tmp_path):
    """The checker itself: a shared module importing the validator side, found even
    inside a function, and a relative import resolved; allowed imports pass."""
    rules = read_rules(DOCS / "architecture.md")
    for name in ("neurons", "neurons/shared", "neurons/validating", "neurons/chain", "protocol"):
        (tmp_path / name).mkdir(parents=True)
        (tmp_path / name / "__init__.py").write_text("")
    (tmp_path / "neurons/validating/scoring.py").write_text("")
    (tmp_path / "neurons/shared/lazy.py").write_text(textwrap.dedent("""
        from neurons.chain import types

        def later():
            from neurons.validating import scoring
    """))
    (tmp_path / "neurons/chain/up.py").write_text("from ..validating.scoring import x\n")
    (tmp_path / "protocol/ok.py").write_text("from . import other\nimport json\n")
    assert violations(tmp_path, rules) == [
        "neurons/chain/up.py:1: neurons.chain imports neurons.validating.scoring",
        "neurons/shared/lazy.py:5: neurons.shared imports neurons.validating.scoring",
    ]


@pytest.mark.parametrize(
    "service, absent",
    [
        ("neurons.mining.service", ("neurons.validating", "neurons.devnet")),
        ("neurons.validating.service", ("neurons.mining", "neurons.devnet")),
    ],
    ids=["miner", "validator"],
)
def test_a_daemon_process_loads_no_module_of_the_other_role(service, absent):
    """A fresh interpreter importing one role's service has none of the other role's
    modules (scoring, validator state, the guard) nor the devnet in sys.modules."""
    probe = (
        f"import sys, {service}\n"
        f"print('\\n'.join(m for m in sys.modules if m.startswith({absent!r})))"
    )
    done = subprocess.run([PYTHON, "-c", probe], cwd=REPO_ROOT, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == []


def test_the_probe_sees_a_module_that_is_loaded():
    """The sys.modules probe above can fail: the validator's service does load scoring."""
    probe = "import sys, neurons.validating.service; print('neurons.validating.scoring' in sys.modules)"
    done = subprocess.run([PYTHON, "-c", probe], cwd=REPO_ROOT, capture_output=True, text=True,
                          timeout=120)
    assert done.stdout.strip() == "True", done.stderr
