"""API keys of the validator's API: a file of hashes, never of keys, and the command that adds one.

A key is ``poi_`` and 43 URL-safe characters: 32 random bytes from ``secrets``. The file
(``--api.keys FILE``) holds one line per key, ``NAME sha256:HEX`` (``#`` starts a
comment), where HEX is the SHA-256 of the whole key. The key itself is printed once, when
it is made, and stored nowhere.

Why SHA-256 and not a slow hash (scrypt, pbkdf2): a slow hash protects guessable
secrets, passwords, against someone who has stolen the file; these keys are 256 random
bits, so a stolen file gives nothing to guess from, with any hash, while a slow hash
would cost the validator ~50 ms of CPU on every request (a flood of requests would
become a CPU flood). A key is looked up by its hash, so the lookup takes the same
time whichever key is sent.

``python -m neurons.validating.api_keys add FILE NAME`` makes a key and prints it;
``revoke FILE NAME`` removes it; ``list FILE`` prints the names. The validator reads the
file at start: restart it (pm2 restart) after a change.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import os
import re
import secrets
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

__all__ = ["KEY_PREFIX", "ApiKeyFileError", "ApiKeys", "new_key", "key_digest", "add_key", "revoke_key", "main"]

KEY_PREFIX = "poi_"
_NAME = re.compile(r"^[A-Za-z0-9_.@-]{1,64}$")
_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")


class ApiKeyFileError(Exception):
    """The key file cannot be read or used; the message names the file, the line and the fix."""


def new_key() -> str:
    """A fresh API key: :data:`KEY_PREFIX` and 32 random bytes, URL-safe base64."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def key_digest(key: str) -> str:
    """What the file stores for ``key``: ``sha256:`` and the hex SHA-256 of its UTF-8 bytes."""
    return "sha256:" + hashlib.sha256(key.encode()).hexdigest()


@dataclass(frozen=True)
class ApiKeys:
    """The callers of a key file: digest -> name (see the module docstring)."""

    by_digest: Mapping[str, str]

    @classmethod
    def load(cls, path: Path) -> ApiKeys:
        """Read ``path``. Raises :class:`ApiKeyFileError` naming the line for a malformed line, a
        repeated name or digest, or a file that cannot be read."""
        by_digest: dict[str, str] = {}
        for number, name, digest in _entries(path):
            if digest in by_digest:
                raise ApiKeyFileError(f"{path}:{number}: the same key is listed twice ({by_digest[digest]}, {name})")
            if name in by_digest.values():
                raise ApiKeyFileError(f"{path}:{number}: the name {name} is used twice; each key needs its own")
            by_digest[digest] = name
        return cls(by_digest)

    def name_of(self, key: str) -> str | None:
        """The name of ``key``, or None when it is not in the file."""
        return self.by_digest.get(key_digest(key))

    def __len__(self) -> int:
        return len(self.by_digest)


def _entries(path: Path) -> list[tuple[int, str, str]]:
    try:
        text = path.read_text()
    except OSError as error:
        raise ApiKeyFileError(
            f"cannot read the API key file {path} ({error.strerror or error}); make one with "
            f"python -m neurons.validating.api_keys add {path} NAME"
        ) from None
    found = []
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.split()
        if len(parts) != 2 or not _NAME.match(parts[0]) or not _DIGEST.match(parts[1]):
            raise ApiKeyFileError(
                f"{path}:{number}: expected 'NAME sha256:HEX' (a name of letters, digits, _.@-, then the key's "
                "SHA-256), never a key itself; add keys with python -m neurons.validating.api_keys add"
            )
        found.append((number, parts[0], parts[1]))
    return found


def add_key(path: Path, name: str) -> str:
    """Make a key named ``name``, add its digest to ``path`` (created if missing) and return the key.

    Raises :class:`ApiKeyFileError` for a bad or already used name, or a file that cannot be written.
    """
    if not _NAME.match(name):
        raise ApiKeyFileError(f"key name {name!r}: use 1 to 64 letters, digits or _.@-")
    entries = _entries(path) if path.exists() else []
    if any(existing == name for _, existing, _ in entries):
        raise ApiKeyFileError(f"{path} already has a key named {name}; revoke it first or choose another name")
    key = new_key()
    text = path.read_text() if path.exists() else "# API keys of the validator's API: NAME sha256:HEX\n"
    _write(path, text + ("" if text.endswith("\n") or not text else "\n") + f"{name} {key_digest(key)}\n")
    return key


def revoke_key(path: Path, name: str) -> bool:
    """Remove the key named ``name`` from ``path``; False if there was none."""
    entries = _entries(path)
    if not any(existing == name for _, existing, _ in entries):
        return False
    drop = {number for number, existing, _ in entries if existing == name}
    lines = path.read_text().splitlines(keepends=True)
    _write(path, "".join(line for number, line in enumerate(lines, start=1) if number not in drop))
    return True


def _write(path: Path, text: str) -> None:
    """Replace ``path`` atomically, readable by its owner only (it lists who may call)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m neurons.validating.api_keys",
        description="API keys of the validator's API (--api.keys FILE). The file stores only each key's "
        "SHA-256; a new key is printed once and cannot be shown again. Restart the validator after a change.",
    )
    sub = p.add_subparsers(dest="command", required=True)
    add = sub.add_parser("add", help="Make a key, store its hash in FILE and print the key once.")
    add.add_argument("file", type=Path, help="The key file (created if missing).")
    add.add_argument("name", help="Who the key is for (letters, digits, _.@-); shown in the validator's logs.")
    revoke = sub.add_parser("revoke", help="Remove the key named NAME from FILE.")
    revoke.add_argument("file", type=Path, help="The key file.")
    revoke.add_argument("name", help="The key's name.")
    listing = sub.add_parser("list", help="Print the names of the keys in FILE.")
    listing.add_argument("file", type=Path, help="The key file.")
    return p


def main(argv: list[str] | None = None) -> int:
    """The command line (see ``--help``); 0 on success, 1 on an error it explains."""
    args = _parser().parse_args(argv)
    try:
        if args.command == "add":
            key = add_key(args.file, args.name)
            print(key)
            print(f"added {args.name} to {args.file}; this key is shown once: give it to the client now",
                  file=sys.stderr)
        elif args.command == "revoke":
            if not revoke_key(args.file, args.name):
                print(f"{args.file} has no key named {args.name}", file=sys.stderr)
                return 1
            print(f"revoked {args.name}; restart the validator for it to take effect", file=sys.stderr)
        else:
            for _, name, _ in _entries(args.file):
                print(name)
    except ApiKeyFileError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
