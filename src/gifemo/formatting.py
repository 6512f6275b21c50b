"""Text for people: durations and Markdown tables, as the reports, results.md and the demo print
them."""

from __future__ import annotations

from collections.abc import Sequence


def format_duration(seconds: float | None) -> str:
    """``3725 -> "1h02m05s"``, ``65 -> "1m05s"``, ``None -> "n/a"``."""
    if seconds is None:
        return "n/a"
    seconds = round(seconds)
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}h{m:02d}m{s:02d}s" if h else f"{m}m{s:02d}s" if m else f"{s}s"


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """The lines of a Markdown (GitHub) table: the header, the rule, one line per row."""
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    return lines + ["| " + " | ".join(row) + " |" for row in rows]
