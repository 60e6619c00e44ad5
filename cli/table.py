"""Plain-text tables for the CLI's human-readable output (no Rich: it costs start-up
time, and piped output stays grep-able). Numeric columns are right-aligned."""

from __future__ import annotations

import re

_NUMBER = re.compile(r"^[-+]?[\d,]*\.?\d+(e[-+]?\d+)?[x%]?$")


class Table:
    def __init__(self, *columns: str, show_header: bool = True) -> None:
        self.columns = columns
        self.show_header = show_header
        self.rows: list[tuple[str, ...]] = []

    def add_row(self, *cells: object) -> None:
        row = tuple("" if c is None else str(c) for c in cells)
        self.rows.append(row + ("",) * (len(self.columns) - len(row)))

    def __str__(self) -> str:
        rows = [self.columns, *self.rows] if self.show_header else list(self.rows)
        width = [max((len(r[i]) for r in rows), default=0) for i in range(len(self.columns))]
        numeric = [
            bool(self.rows) and all(_NUMBER.match(r[i]) or r[i] in ("", "-") for r in self.rows)
            for i in range(len(self.columns))
        ]

        def line(cells: tuple[str, ...]) -> str:
            out = [c.rjust(w) if num else c.ljust(w)
                   for c, w, num in zip(cells, width, numeric, strict=True)]
            return "  ".join(out).rstrip()

        lines = [line(r) for r in rows]
        if self.show_header:
            lines.insert(1, "  ".join("-" * w for w in width))
        return "\n".join(lines)
