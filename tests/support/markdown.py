"""Reading the markdown tables the benchmarks write (``bench.report.markdown_table``, ``bench.circuit_sweep``)."""

from __future__ import annotations

__all__ = ["cells", "tables"]


def cells(line: str) -> list[str]:
    """The stripped cells of one table line, ``| a | b |`` -> ``["a", "b"]``."""
    return [c.strip() for c in line.strip().strip("|").split("|")]


def tables(text: str) -> list[list[dict[str, str]]]:
    """Every table in ``text`` (a header line, then a ``|---`` rule), as its rows of {header: cell}."""
    found, lines = [], text.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("|") and i + 1 < len(lines) and lines[i + 1].startswith("|---"):
            header, rows = cells(line), []
            for row in lines[i + 2:]:
                if not row.startswith("|"):
                    break
                rows.append(dict(zip(header, cells(row))))
            found.append(rows)
    return found
