"""The documentation names files that exist: SRS files and relative links.

Docs go stale when circuits are rebuilt or files move; these checks read
README.md and docs/*.md as text and compare them with the repository.
"""

import re
from urllib.parse import unquote, urlsplit

import pytest

from execution_layer._manifest import Manifest
from tests.support.paths import REPO_ROOT

ROOT = REPO_ROOT
DOCS = sorted([ROOT / "README.md", *(ROOT / "docs").glob("*.md")])
SRS_NAME = re.compile(r"\bkzg\d+\.srs\b")
# [text](target) and [text]: target; images too. Targets with a scheme or only an anchor are skipped.
LINK = re.compile(r"\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)|^\s*\[[^\]]+\]:\s*(\S+)", re.MULTILINE)


def _pinned_srs() -> set[str]:
    return {Manifest.read(m).srs.file for m in (ROOT / "models").glob("*/manifest.json")}


def test_the_shipped_manifests_pin_an_srs():
    assert _pinned_srs(), "no models/*/manifest.json found"


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_srs_a_doc_names_is_shipped_and_pinned(doc):
    """Each ``kzg<N>.srs`` in the text exists in models/srs and is the SRS some manifest pins."""
    pinned = _pinned_srs()
    for name in sorted(set(SRS_NAME.findall(doc.read_text()))):
        assert (ROOT / "models" / "srs" / name).is_file(), f"{doc.name} names {name}, not in models/srs"
        assert name in pinned, f"{doc.name} names {name}, but the manifests pin {sorted(pinned)}"


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_relative_link_in_a_doc_points_at_an_existing_file(doc):
    """Links without a scheme (``http:``, ``mailto:``) resolve from the doc's folder to a file or folder."""
    broken = []
    for match in LINK.finditer(doc.read_text()):
        target = match.group(1) or match.group(2)
        parts = urlsplit(target)
        if parts.scheme or parts.netloc or not parts.path:
            continue
        if not (doc.parent / unquote(parts.path)).exists():
            broken.append(target)
    assert not broken, f"{doc.name} links to missing files: {broken}"


def test_the_link_pattern_finds_inline_and_reference_links():
    """Guards the regex: a broken pattern would make the link test pass vacuously."""
    text = 'see [a](docs/a.md) and [b](b.md#part "title")\n[ref]: ../c.md\n[web](https://x.org)'
    found = [m.group(1) or m.group(2) for m in LINK.finditer(text)]
    assert found == ["docs/a.md", "b.md#part", "../c.md", "https://x.org"]


def _rules_rows() -> list[list[str]]:
    """The rows of docs/devnet.md's "Rules checked against subtensor" table, as cells."""
    text = (ROOT / "docs" / "devnet.md").read_text()
    section = text.split("## Rules checked against subtensor", 1)[1].split("\n## ", 1)[0]
    lines = [line for line in section.splitlines() if line.startswith("| ")]
    return [[cell.strip() for cell in re.split(r"(?<!\\)\|", line)[1:-1]] for line in lines[2:]]


def _named_tests(cell: str) -> list[tuple[str, str | None]]:
    """(file, test name or None) for each `tests/...py[::name]` or `…::name` (same file) in ``cell``."""
    named, last = [], None
    for ref in re.findall(r"`((?:tests/[\w/]+\.py|…)(?:::\w+)?)`", cell):
        path, _, name = ref.partition("::")
        if path == "…":
            path = last
        last = path
        named.append((path, name or None))
    return named


def test_every_devnet_rule_names_a_test_that_exists():
    """docs/devnet.md's table is the issue's contract: each rule has finney's behaviour, the
    devnet's, and the test that runs it; a renamed or deleted test must not leave a row
    pointing at nothing."""
    rows = _rules_rows()
    assert len(rows) >= 20
    for cells in rows:
        assert len(cells) == 4, cells
        named = _named_tests(cells[3])
        assert named, f"rule {cells[0]!r} names no test"
        for path, name in named:
            assert path is not None and (ROOT / path).is_file(), (cells[0], path)
            if name is not None:
                assert re.search(rf"^(async )?def {name}\(", (ROOT / path).read_text(), re.M), (cells[0], path, name)


def test_the_rule_table_check_sees_a_missing_test():
    assert _named_tests("`tests/a.py::test_x`, `…::test_y`") == [("tests/a.py", "test_x"), ("tests/a.py", "test_y")]
    assert not re.search(r"^(async )?def test_nobody_wrote_this\(", (ROOT / "tests" / "test_docs.py").read_text(), re.M)
