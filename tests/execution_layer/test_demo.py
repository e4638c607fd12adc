"""The demo command proves and verifies the default model end to end."""

from __future__ import annotations

from execution_layer.demo import main as demo_main


def test_demo_proves_and_verifies_the_default_model(key_cache, capsys):
    assert demo_main(["--key-cache", str(key_cache), "--seed", "1"]) == 0
    out = capsys.readouterr().out
    assert "digits_cnn" in out and "verdict  ACCEPTED" in out and "3072 bytes" in out
