"""The proving-key cache: location, derivation checks, concurrency."""

from __future__ import annotations

import dataclasses
import io
import sys
import threading

import pytest

from execution_layer import DEFAULT_KEY_CACHE, KeyDerivationFailed, default_key_cache, ensure_keys, timeouts
from execution_layer.keys import main as keys_main  # the CLI
from tests.support.models import SHIPPED, copy_models


def test_cache_root_is_argument_then_env_then_home(monkeypatch, tmp_path):
    monkeypatch.delenv("POI_KEY_CACHE", raising=False)
    assert default_key_cache() == DEFAULT_KEY_CACHE.expanduser()
    monkeypatch.setenv("POI_KEY_CACHE", str(tmp_path / "env"))
    assert default_key_cache() == tmp_path / "env"
    assert default_key_cache(tmp_path / "arg") == tmp_path / "arg"


def test_session_keys_are_cached_per_circuit_id(registry, key_cache):
    for circuit in registry:
        pk = key_cache / circuit.id / "pk.key"
        assert pk.is_file() and pk.stat().st_size > 1_000_000
        assert ensure_keys(circuit, key_cache) == pk  # a cache hit: no derivation, no progress
    assert not any(p.name.startswith(".derive-") for p in key_cache.rglob("*"))


def test_a_derived_vk_that_differs_from_the_pin_fails_and_caches_nothing(registry, tmp_path):
    circuit = dataclasses.replace(registry.by_name("wine_mlp"), vk_sha256="0" * 64)
    lines = []
    with pytest.raises(KeyDerivationFailed, match="derived vk"):
        ensure_keys(circuit, tmp_path, progress=lines.append)
    assert not (tmp_path / circuit.id / "pk.key").exists()
    assert list((tmp_path / circuit.id).iterdir()) == []
    assert lines and "deriving" in lines[0]


def test_concurrent_derivations_are_safe(registry, tmp_path):
    """Two workers deriving the same key at once both succeed and leave one complete key."""
    circuit = registry.by_name("wine_mlp")
    results, errors = [], []

    def derive():
        try:
            results.append(ensure_keys(circuit, tmp_path, progress=lambda line: None))
        except Exception as e:  # collected and asserted below
            errors.append(e)

    threads = [threading.Thread(target=derive) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert results[0] == results[1] == tmp_path / circuit.id / "pk.key"
    assert [p.name for p in (tmp_path / circuit.id).iterdir()] == ["pk.key"]


def test_keys_command_checks_every_circuit(key_cache, capsys):
    assert keys_main(["--key-cache", str(key_cache)]) == 0
    out = capsys.readouterr().out
    assert all(f"{name}: " in out for name in SHIPPED)


def test_keys_command_names_a_broken_folder_and_still_checks_the_others(key_cache, tmp_path, capsys):
    """setup.sh runs this command: one bad model folder must not stop the install."""
    models = copy_models(tmp_path / "models")
    broken = SHIPPED[-1]
    (models / broken / "vk.key").unlink()
    assert keys_main(["--key-cache", str(key_cache), "--models", str(models)]) == 0
    captured = capsys.readouterr()
    assert captured.err.count("warning: ") == 1
    assert f"warning: circuit {broken} not loaded (CircuitMismatch): " in captured.err
    assert f"{broken}: " not in captured.out and captured.out.count("key at") == len(SHIPPED) - 1


def test_an_unwritable_cache_is_a_key_derivation_failure(registry, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(KeyDerivationFailed, match="cannot write the key cache"):
        ensure_keys(registry.default, blocker / "keys")


class _Terminal(io.StringIO):
    """A stderr that says it is a terminal, so tqdm draws its bar into it."""

    def isatty(self) -> bool:
        return True


def test_keys_command_on_a_terminal_draws_a_bar_on_stderr_and_still_prints_every_key(key_cache, capsys, monkeypatch):
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    assert keys_main(["--key-cache", str(key_cache)]) == 0
    out = capsys.readouterr().out
    n = len(SHIPPED)
    assert all(f"{name}: " in out for name in SHIPPED) and out.count("key at") == n
    assert "proving keys" in terminal.getvalue() and f"{n}/{n}" in terminal.getvalue()


def test_keys_command_off_a_terminal_prints_plain_lines_and_no_bar(tmp_path, capsys):
    """Piped output (setup logs, daemons) gets the progress lines as before, no bar escape codes."""
    assert keys_main(["--key-cache", str(tmp_path)]) == 0
    captured = capsys.readouterr()
    assert "deriving proving key" in captured.out and "proving key ready" in captured.out
    assert "proving keys" not in captured.err and "\r" not in captured.err


def test_keys_command_derives_only_the_circuits_named(key_cache, capsys):
    """Tried: --circuits with one shipped name. Holds: only that circuit's key line is printed."""
    assert keys_main(["--key-cache", str(key_cache), "--circuits", SHIPPED[0]]) == 0
    out = capsys.readouterr().out
    assert f"{SHIPPED[0]}: " in out and all(f"{name}: " not in out for name in SHIPPED[1:])


def test_keys_command_refuses_an_unknown_circuit_naming_the_loaded(key_cache, capsys):
    assert keys_main(["--key-cache", str(key_cache), "--circuits", "no_such_model"]) == 1
    assert "no circuit named 'no_such_model' (have: " in capsys.readouterr().err


def test_skip_heavy_leaves_out_the_heavy_circuits_and_says_how_to_derive_them(key_cache, capsys, monkeypatch):
    """Tried: every circuit heavy (the threshold lowered to 0). Holds: no key derived or checked, and the
    line names each skipped circuit and the command that derives them."""
    monkeypatch.setattr(timeouts, "HEAVY_S", 0.0)
    assert keys_main(["--key-cache", str(key_cache), "--skip-heavy"]) == 0
    out = capsys.readouterr().out
    assert f"skipping the heavy circuits {', '.join(SHIPPED)} (--skip-heavy)" in out
    assert f"python -m execution_layer.keys --circuits {' '.join(SHIPPED)}" in out and "… key at" not in out
