"""The yardstick of the prover benchmarks: bare ``ezkl.gen_witness`` + ``ezkl.prove`` on files.

What a miner would pay with no project code around ezkl at all: the input JSON is written
before the clock starts, then the two ezkl calls run straight on the circuit's files.
``bench/bench_execution.py`` and ``bench/miner_path.py`` both time their prover against it.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

import ezkl
import numpy as np

from execution_layer import _ezkl
from execution_layer.circuit import Circuit

__all__ = ["bare_prove"]


def bare_prove(circuit: Circuit, pk: Path, inputs: Sequence[float], tmp: Path) -> float:
    """Seconds of gen_witness + prove straight on files in ``tmp``, input JSON written beforehand (not timed)."""
    _ezkl.write_input(tmp / "in.json", np.asarray(inputs, dtype=np.float32))
    t = time.perf_counter()
    ezkl.gen_witness(str(tmp / "in.json"), str(circuit.compiled_path), str(tmp / "w.json"),
                     vk_path=str(circuit.vk_path), srs_path=str(circuit.srs_path))
    ezkl.prove(str(tmp / "w.json"), str(circuit.compiled_path), str(pk), str(tmp / "p.json"),
               srs_path=str(circuit.srs_path))
    return time.perf_counter() - t
