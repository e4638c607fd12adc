"""The demo command proves and verifies the default model end to end."""

from __future__ import annotations

from execution_layer.demo import main as demo_main
from tests.support.models import SHIPPED, copy_models


def test_demo_proves_and_verifies_the_default_model(registry, key_cache, capsys):
    assert demo_main(["--key-cache", str(key_cache), "--seed", "1"]) == 0
    out = capsys.readouterr().out
    default = registry.default  # digits_cnn while it is shipped
    assert f"model    {default.name}: " in out and "verdict  ACCEPTED" in out
    assert f"{default.proof_bytes} bytes" in out


def test_demo_names_a_broken_folder_and_proves_the_default_all_the_same(key_cache, tmp_path, capsys):
    models = copy_models(tmp_path / "models")
    broken = next(name for name in SHIPPED if name != "digits_cnn")  # any folder but the default's
    (models / broken / "vk.key").unlink()
    assert demo_main(["--key-cache", str(key_cache), "--models", str(models), "--seed", "1"]) == 0
    captured = capsys.readouterr()
    assert f"warning: circuit {broken} not loaded (CircuitMismatch): " in captured.err
    assert "verdict  ACCEPTED" in captured.out


def test_demo_of_a_broken_model_asked_by_name_fails_in_one_line_naming_why(key_cache, tmp_path, capsys):
    models = copy_models(tmp_path / "models")
    broken = SHIPPED[-1]
    (models / broken / "vk.key").unlink()
    assert demo_main(["--key-cache", str(key_cache), "--models", str(models), "--model", broken]) == 1
    err = capsys.readouterr().err
    assert f"demo failed: circuit {broken} is not loaded: " in err and "vk.key" in err
