"""``--format table|json|csv``: the same rows as an aligned table for people, JSON or CSV for scripts.

A table marks the rows that need attention (``!`` in the first column, and in colour on a terminal: click
strips the colour when the output is piped); JSON and CSV carry the same flag as a field.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from typing import Any

import click

FORMATS = ("table", "json", "csv")


def emit(rows: Sequence[dict[str, Any]], columns: Sequence[str], fmt: str, flag: str | None = None) -> None:
    """Print ``rows`` (dicts with at least ``columns``); ``flag`` names a boolean field that marks a row."""
    if fmt == "json":
        click.echo(json.dumps(list(rows), indent=2))
        return
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=[*columns, *([flag] if flag else [])], extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
        click.echo(buffer.getvalue(), nl=False)
        return
    _table(rows, columns, flag)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.0f}%"
    return str(value)


def _table(rows: Sequence[dict[str, Any]], columns: Sequence[str], flag: str | None) -> None:
    cells = [[_cell(row.get(c)) for c in columns] for row in rows]
    widths = [max([len(c), *(len(line[i]) for line in cells)]) for i, c in enumerate(columns)]
    marker = "  " if flag else ""
    click.echo(marker + "  ".join(c.upper().ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip())
    for row, line in zip(rows, cells, strict=True):
        text = "  ".join(v.ljust(w) for v, w in zip(line, widths, strict=True)).rstrip()
        if flag and row.get(flag):
            click.echo(click.style("! " + text, fg="red", bold=True))
        else:
            click.echo(marker + text)
