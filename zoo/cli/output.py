"""Printing tables and JSON for the command line."""

from __future__ import annotations

import json
from typing import Any, Iterable

import click


def echo_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, default=str))


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v) for v in value) or "-"
    if isinstance(value, dict):
        return "; ".join(f"{k}: {_cell(v)}" for k, v in value.items()) or "-"
    return str(value)


def echo_table(rows: Iterable[dict[str, Any]], columns: list[str], empty: str = "nothing to show") -> None:
    """Left-aligned columns; the last column may run long."""
    rows = list(rows)
    if not rows:
        click.echo(empty)
        return
    cells = [[_cell(row.get(c)) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    line = lambda values: "  ".join(v.ljust(w) for v, w in zip(values, widths)).rstrip()  # noqa: E731
    click.echo(line([c.upper() for c in columns]))
    for row in cells:
        click.echo(line(row))


def echo_mapping(data: dict[str, Any], indent: int = 0) -> None:
    """``key: value`` lines, nested dicts indented."""
    pad = " " * indent
    for key, value in data.items():
        if isinstance(value, dict) and value:
            click.echo(f"{pad}{key}:")
            echo_mapping(value, indent + 2)
        elif isinstance(value, list) and value and isinstance(value[0], dict):
            click.echo(f"{pad}{key}:")
            for item in value:
                first, *rest = item.items()
                click.echo(f"{pad}  - {first[0]}: {_cell(first[1])}")
                for k, v in rest:
                    click.echo(f"{pad}    {k}: {_cell(v)}")
        else:
            click.echo(f"{pad}{key}: {_cell(value)}")
