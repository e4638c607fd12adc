"""neurons.validating.api_keys: keys shown once, only their hashes stored; and the API's per-caller limits."""

from __future__ import annotations

import hashlib

import pytest

from neurons.validating.api_keys import ApiKeyFileError, ApiKeys, add_key, main, revoke_key
from neurons.validating.api_limits import CallerLimits, LimitsConfig


def test_an_added_key_is_found_by_name_and_the_file_holds_only_its_sha256(tmp_path):
    path = tmp_path / "keys"
    key = add_key(path, "alice")
    text = path.read_text()
    assert key.startswith("poi_") and key not in text
    assert f"alice sha256:{hashlib.sha256(key.encode()).hexdigest()}" in text
    assert ApiKeys.load(path).name_of(key) == "alice"
    assert ApiKeys.load(path).name_of(key + "x") is None
    assert path.stat().st_mode & 0o077 == 0  # owner only


def test_two_keys_differ_and_a_name_is_used_once(tmp_path):
    path = tmp_path / "keys"
    assert add_key(path, "alice") != add_key(path, "bob")
    with pytest.raises(ApiKeyFileError, match="already has a key named alice"):
        add_key(path, "alice")
    assert len(ApiKeys.load(path)) == 2


def test_a_revoked_key_no_longer_authenticates(tmp_path):
    path = tmp_path / "keys"
    alice, bob = add_key(path, "alice"), add_key(path, "bob")
    assert revoke_key(path, "alice") and not revoke_key(path, "alice")
    keys = ApiKeys.load(path)
    assert keys.name_of(alice) is None and keys.name_of(bob) == "bob"


def test_a_line_holding_a_key_instead_of_its_hash_is_refused_naming_the_line(tmp_path):
    path = tmp_path / "keys"
    path.write_text("# comment\nalice poi_plaintextkey\n")
    with pytest.raises(ApiKeyFileError, match=r"keys:2: expected 'NAME sha256:HEX'.*never a key itself"):
        ApiKeys.load(path)


def test_a_missing_key_file_says_how_to_make_one(tmp_path):
    with pytest.raises(ApiKeyFileError, match="api_keys add"):
        ApiKeys.load(tmp_path / "none")


def test_the_command_prints_the_key_once_and_lists_names(tmp_path, capsys):
    path = tmp_path / "keys"
    assert main(["add", str(path), "carol"]) == 0
    out = capsys.readouterr()
    key = out.out.strip()
    assert ApiKeys.load(path).name_of(key) == "carol" and "shown once" in out.err
    assert main(["list", str(path)]) == 0 and capsys.readouterr().out == "carol\n"
    assert main(["revoke", str(path), "carol"]) == 0
    assert main(["revoke", str(path), "carol"]) == 1


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def test_a_caller_over_its_burst_waits_for_its_rate_and_others_are_not_affected():
    clock = Clock()
    limits = CallerLimits(LimitsConfig(per_minute=30, burst=2, max_concurrent=5), clock=clock)
    for _ in range(2):
        with limits.admit("a") as refused:
            assert refused is None
    with limits.admit("a") as refused:
        assert refused is not None and refused.retry_after_s == 2  # one token every 2 s
    with limits.admit("b") as refused:
        assert refused is None
    clock.t = 2.0
    with limits.admit("a") as refused:
        assert refused is None


def test_a_caller_at_its_concurrency_is_refused_until_one_finishes():
    limits = CallerLimits(LimitsConfig(per_minute=600, burst=10, max_concurrent=1), clock=Clock())
    with limits.admit("a") as first:
        assert first is None
        with limits.admit("a") as second:
            assert second is not None and second.retry_after_s == 1
    with limits.admit("a") as third:
        assert third is None
