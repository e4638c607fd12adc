"""reports.jsonl appends: whole lines only, a line torn by a crash cut at the next append."""

from __future__ import annotations

import json
import logging

from neurons.validating import reports


def _lines(path):
    return [json.loads(line) for line in path.read_bytes().splitlines()]


def test_appends_one_json_line_each_call_creating_the_folder(tmp_path):
    path = tmp_path / "run" / "reports.jsonl"
    reports.append_line(path, {"round": 1}, max_bytes=1 << 20)
    reports.append_line(path, {"round": 2}, max_bytes=1 << 20)
    assert path.read_bytes() == b'{"round": 1}\n{"round": 2}\n'


def test_a_line_torn_by_a_crash_is_cut_before_the_next_line_is_appended(tmp_path, caplog):
    """Tried: a file whose last append died midway. Must hold: the whole lines stay, the torn
    tail goes (one WARNING with its size), the new line follows the last whole one."""
    path = tmp_path / "reports.jsonl"
    torn = b'{"round": 2, "records": [{"uid": 1, "proof'
    path.write_bytes(b'{"round": 1}\n' + torn)
    with caplog.at_level(logging.WARNING, logger=reports.__name__):
        reports.append_line(path, {"round": 3}, max_bytes=1 << 20)
    assert _lines(path) == [{"round": 1}, {"round": 3}]
    assert f"removed its {len(torn)} bytes" in caplog.text


def test_a_torn_first_line_longer_than_one_read_is_cut_whole(tmp_path):
    """The backwards search for the last newline spans reads: a torn line of 200 KB (a full
    subnet's round) without any newline before it leaves only the new line."""
    path = tmp_path / "reports.jsonl"
    path.write_bytes(b'{"records": "' + b"x" * 200_000)
    reports.append_line(path, {"round": 2}, max_bytes=1 << 30)
    assert _lines(path) == [{"round": 2}]


def test_a_whole_file_is_only_appended_to(tmp_path, caplog):
    path = tmp_path / "reports.jsonl"
    path.write_bytes(b'{"round": 1}\n')
    with caplog.at_level(logging.WARNING, logger=reports.__name__):
        reports.append_line(path, {"round": 2, "big": "y" * 300_000}, max_bytes=1 << 30)
    assert [line["round"] for line in _lines(path)] == [1, 2]
    assert not caplog.records
