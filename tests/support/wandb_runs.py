"""Reading what an offline wandb run wrote (``run-<id>.wandb``), without wandb's servers."""

from __future__ import annotations

import struct
from collections.abc import Iterator
from pathlib import Path

__all__ = ["wandb_records", "wandb_history"]


def wandb_records(path: Path) -> Iterator[object]:
    """The protobuf records of a wandb run file (``run-<id>.wandb``), in order.

    The file is a 7-byte wandb header followed by LevelDB's log format: 32 KiB
    blocks of chunks, each ``crc32c:u32 length:u16 type:u8`` then data; types
    full=1, first=2, middle=3, last=4. wandb 0.31 ships no reader for it.
    """
    from wandb.proto import wandb_internal_pb2

    data = path.read_bytes()
    assert data[:4] == b":W&B", f"{path} is not a wandb run file"
    block, pos, pending = 32768, 7, b""
    while pos + 7 <= len(data):
        left = block - pos % block
        if left < 7:
            pos += left
            continue
        _crc, length, kind = struct.unpack("<IHB", data[pos:pos + 7])
        if kind == 0:  # block padding
            pos += left
            continue
        chunk = data[pos + 7:pos + 7 + length]
        pos += 7 + length
        if kind == 1:
            whole = chunk
        elif kind == 2:
            pending = chunk
            continue
        elif kind == 3:
            pending += chunk
            continue
        else:
            whole = pending + chunk
        record = wandb_internal_pb2.Record()
        record.ParseFromString(whole)
        yield record


def wandb_history(path: Path) -> list[dict[str, str]]:
    """Every ``run.log`` row of a wandb run file, as {key: JSON value}."""
    rows = []
    for record in wandb_records(path):
        if record.WhichOneof("record_type") == "history":
            items = record.history.item
            rows.append({item.key or "/".join(item.nested_key): item.value_json for item in items})
    return rows
