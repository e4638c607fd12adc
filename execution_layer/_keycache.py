"""Proving keys: derived locally from the committed circuit and SRS, cached outside the repo.

The proving key is large (MBs) and deterministic given the compiled circuit
and the SRS, so it is not committed: ``ensure_keys`` derives it once with
``ezkl.setup`` into ``<key cache>/<circuit id>/pk.key`` and checks that the vk
derived alongside hashes to the pinned ``vk.key`` (a mismatch means the
circuit or SRS is not what the manifest says). Derivation writes into a
temporary directory inside the cache and renames atomically, so concurrent
derivations (several miner workers) are safe: the last rename wins, and all
produce the same file.

The cache root is, in order: the ``key_cache`` argument, ``$POI_KEY_CACHE``,
``~/.cache/proof-of-inference/keys``.

The CLI is ``python -m execution_layer.keys`` (see ``execution_layer.keys``).
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import threading
import time
from pathlib import Path
from typing import Callable

import ezkl

from execution_layer import _ezkl, _manifest
from execution_layer.circuit import Circuit
from execution_layer.types import KeyDerivationFailed

__all__ = ["default_key_cache", "pk_path", "ensure_keys", "ENV_VAR", "DEFAULT_KEY_CACHE"]

log = logging.getLogger(__name__)
ENV_VAR = "POI_KEY_CACHE"
DEFAULT_KEY_CACHE = Path("~/.cache/proof-of-inference/keys")  # when neither argument nor $POI_KEY_CACHE
_PK_FILE = "pk.key"
_HEARTBEAT_S = 1.0


def default_key_cache(key_cache: Path | None = None) -> Path:
    """Resolve the cache root: argument, then $POI_KEY_CACHE, then ~/.cache/proof-of-inference/keys."""
    if key_cache is not None:
        return Path(key_cache).expanduser()
    if os.environ.get(ENV_VAR):
        return Path(os.environ[ENV_VAR]).expanduser()
    return DEFAULT_KEY_CACHE.expanduser()


def pk_path(circuit: Circuit, key_cache: Path) -> Path:
    return Path(key_cache) / circuit.id / _PK_FILE


def ensure_keys(circuit: Circuit, key_cache: Path, progress: Callable[[str], None] | None = None) -> Path:
    """Return the path of ``circuit``'s proving key, deriving it first if it is not cached.

    ``progress`` receives human-readable lines: a start line, a heartbeat about
    every second while ezkl.setup runs (it is one blocking call), and a done line
    with the elapsed time. Raises KeyDerivationFailed if setup fails or the
    derived vk differs from the pinned one, or the cache cannot be written.
    """
    target = pk_path(circuit, key_cache)
    if target.is_file():
        return target
    say = progress or (lambda line: log.info("%s", line))
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=".derive-", dir=target.parent))
    except OSError as e:
        raise KeyDerivationFailed(
            f"cannot write the key cache {target.parent} ({e.strerror or e}); choose a writable "
            "folder with --keys.cache or the POI_KEY_CACHE environment variable"
        ) from None
    try:
        say(f"{circuit.name}: deriving proving key (logrows {circuit.logrows}) into {target.parent}")
        started = time.perf_counter()
        done = threading.Event()

        def heartbeat() -> None:
            while not done.wait(_HEARTBEAT_S):
                say(f"{circuit.name}: ezkl.setup running, {time.perf_counter() - started:.0f}s")

        beat = threading.Thread(target=heartbeat, daemon=True)
        beat.start()
        try:
            _ezkl.call(KeyDerivationFailed, f"setup of {circuit.name}", ezkl.setup, str(circuit.compiled_path),
                       str(work / "vk.key"), str(work / _PK_FILE), srs_path=str(circuit.srs_path))
        finally:
            done.set()
            beat.join()
        derived_vk = _manifest.sha256_file(work / "vk.key")
        if derived_vk != circuit.vk_sha256:
            raise KeyDerivationFailed(
                f"{circuit.name}: the derived vk hashes to {derived_vk}, the manifest pins {circuit.vk_sha256}; "
                "the compiled circuit or the SRS does not match the build")
        os.replace(work / _PK_FILE, target)
        size_mb = target.stat().st_size / 1e6
        say(f"{circuit.name}: proving key ready ({size_mb:.1f} MB) in {time.perf_counter() - started:.1f}s")
        return target
    finally:
        shutil.rmtree(work, ignore_errors=True)
