"""bench.performance and bench.report: the report's frame, without running a benchmark.

The parts themselves are run (quick) by their own tests; here a stand-in part module shows
what the command does with whatever a part returns: every target listed once with its
verdict, each section in order with its wall time and load, the raw numbers beside the doc.
"""

from __future__ import annotations

import json
import sys
import types

import pytest

from bench import performance
from bench.report import Machine, Section, Target, markdown_table, render

MACHINE = Machine(cpu="Test CPU", cores=2, memory_gb=24.0, python="3.11.7", versions={"ezkl": "1.0"})


def test_render_lists_every_target_with_its_verdict_and_every_section_in_order():
    sections = [
        Section("First part", "a body\n", (Target("ratio a", "1.02", "<= 1.05", True),
                                            Target("ratio b", "1.30", "<= 1.05", False, note="HTTP")),
                seconds=12.0, load_before=0.5, load_after=1.5),
        Section("Second part", "another body", (Target("share", "-", "<= 25%", None),)),
    ]
    text = render(MACHINE, sections, command="python -m bench.performance", started="2026-12-01 17:00 UTC",
                  wall_s=90.0)
    assert "Test CPU, 2 cores" in text and "ezkl 1.0" in text
    assert "| ratio a | 1.02 | <= 1.05 | met |  |" in text
    assert "| ratio b | 1.30 | <= 1.05 | **missed** | HTTP |" in text
    assert "| share | - | <= 25% | not measured |  |" in text
    assert text.index("## First part") < text.index("## Second part")
    assert "_12 s; load average 0.5 before, 1.5 after._" in text
    assert "1.5 min" in text


def test_a_table_row_of_the_wrong_width_is_refused():
    assert markdown_table(["a", "b"], [["1", "2"]]).splitlines()[1] == "|---|---|"
    with pytest.raises(ValueError, match="2 cells"):
        markdown_table(["a", "b", "c"], [["1", "2"]])


@pytest.fixture
def stand_in_part(monkeypatch):
    """A part module that records the options it was run with and returns one section."""
    module = types.ModuleType("tests_stand_in_part")
    seen = []

    def run(options):
        seen.append(options)
        assert options.work.is_dir()
        return Section("Stand-in", "body", (Target("t", "1", "1", True),), data={"n": 3})

    module.run = run  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, module.__name__, module)
    monkeypatch.setattr(performance, "PARTS", {"stand-in": module.__name__})
    return seen


def test_the_command_runs_the_parts_and_writes_the_report_and_its_numbers(stand_in_part, tmp_path, capsys):
    out = tmp_path / "performance.md"
    assert performance.main(["--only", "stand-in", "--quick", "--circuits", "wine_mlp", "--out", str(out)]) == 0
    (options,) = stand_in_part
    assert options.quick and options.circuits == ("wine_mlp",)
    assert "## Stand-in" in out.read_text()
    (raw,) = json.loads(out.with_suffix(".json").read_text())
    assert raw["title"] == "Stand-in" and raw["data"] == {"n": 3} and raw["seconds"] >= 0
    assert "t: 1 (wanted 1) met" in capsys.readouterr().out


def test_a_quick_run_without_out_prints_the_report_and_writes_no_doc(stand_in_part, capsys, monkeypatch, tmp_path):
    monkeypatch.setattr(performance, "REPO", tmp_path)
    assert performance.main(["--only", "stand-in", "--quick"]) == 0
    assert "## Stand-in" in capsys.readouterr().out
    assert not (tmp_path / "docs").exists()
