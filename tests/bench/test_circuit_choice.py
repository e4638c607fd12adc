"""bench.circuit_choice's quick run on the shipped wine_mlp: the Section's shape, never its timings.

Real ezkl, the real shipped circuit and real child processes (about 20 s): a defaults row
capped at logrows 12 and the chosen row, then key derivation and one proof in children.
"""

from __future__ import annotations

import pytest

from bench.circuit_choice import MINER_MEMORY_MB, TITLE, main, run
from bench.report import PartOptions
from tests.support.markdown import tables


@pytest.fixture(scope="module")
def section(tmp_path_factory):
    work = tmp_path_factory.mktemp("circuits")
    return run(PartOptions(work=work / "work", key_cache=work / "unused-keys", quick=True)), work


def test_the_quick_run_measures_wine_mlp_with_both_rows_the_same_columns_and_positive_numbers(section):
    result, _ = section
    assert result.title == TITLE
    choice, memory = tables(result.body)
    assert [(r["circuit"], r["run args"]) for r in choice] == [("wine_mlp", "ezkl defaults"), ("wine_mlp", "chosen")]
    defaults, chosen = choice
    for row in choice:
        for column in ("logrows", "setup s", "prove s", "proving key MB", "proof bytes", "max abs error"):
            assert float(row[column]) > 0, (row["run args"], column)
    assert chosen["logrows"] == "11" and chosen["decomp"] == "512x4"  # the shipped settings.json, measured
    assert defaults["decomp"] == "16384x2" and int(defaults["logrows"]) <= 12  # ezkl's own, capped for quick
    assert "same vk" in chosen["note"]  # the recompiled chosen circuit is the shipped one
    (buys,) = [line for line in result.body.splitlines() if line.startswith("- **wine_mlp**: ")]
    for says in ("rows", "proofs", "proving key", "error"):  # what the choice buys, in words: never asserted
        assert says in buys, says
    (wine, baseline) = memory
    assert wine["circuit"] == "wine_mlp"
    for column in ("key derivation s", "derive child: wall s", "derive child: peak RSS MB", "one proof s",
                   "prove child: peak RSS MB", "proving key MB on disk"):
        assert float(wine[column]) > 0, column
    assert float(baseline["derive child: peak RSS MB"]) > 0
    assert result.data["memory"][0]["pk_bytes"] > 0 and result.data["choices"][0]["same_vk_as_shipped"] is True


def test_the_quick_run_reports_the_prover_memory_target_and_leaves_no_keys_behind(section):
    result, work = section
    (target,) = result.targets
    assert target.wanted == f"≤ {MINER_MEMORY_MB:.0f} MB peak RSS" and target.met is not None
    assert target.measured.startswith("wine_mlp ") and target.measured.endswith(" MB")
    assert not list((work / "work").rglob("pk.key"))  # every derived key was removed with its scratch folder
    assert not (work / "unused-keys").exists()  # keys are derived afresh, never into the shared cache


def test_a_child_mode_without_its_circuit_is_refused_saying_what_to_write(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["derive"])
    assert exit_.value.code == 2
    assert "derive needs the circuit's name and --key-cache, e.g. python -m bench.circuit_choice derive wine_mlp" \
        in capsys.readouterr().err


def test_help_names_every_flag(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--help"])
    assert exit_.value.code == 0
    text = capsys.readouterr().out
    for word in ("derive", "prove", "load", "--models", "--key-cache"):
        assert word in text
