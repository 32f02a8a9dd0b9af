"""How the command line prints results: a table for people, JSON or YAML for programs.

Every command first turns the library's models into the REST API's JSON shapes (through the
library's converter), then prints that payload: as JSON or YAML unchanged, or as a table of
some of its keys. So the machine formats equal the API's, and a table never shows a value the
JSON does not have. Rich and PyYAML are imported only when a table, a progress bar or YAML is
printed: a ``-o json`` call does not pay for them.
"""

from __future__ import annotations

import enum
import json
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, Final, TextIO

import attrs
import click

__all__ = [
    "Column",
    "OutputFormat",
    "byte_progress",
    "emit",
    "emit_tree",
    "human_bytes",
    "output_option",
    "progress",
]

#: What a table cell shows for a missing value.
_EMPTY: Final = "-"


class OutputFormat(enum.StrEnum):
    """The ``-o/--output`` choices."""

    TABLE = "table"
    JSON = "json"
    YAML = "yaml"


def output_option(
    help: str = "table for people; json or yaml (the REST API's shapes) for programs",
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """The ``-o/--output`` option every listing command takes (a new option per use)."""
    return click.option(
        "-o",
        "--output",
        type=click.Choice([f.value for f in OutputFormat]),
        default=OutputFormat.TABLE.value,
        show_default=True,
        help=help,
    )


def human_bytes(value: object) -> str:
    """Return ``value`` (bytes) as a short binary size (``512 MiB``), or ``-``."""
    if not isinstance(value, int) or isinstance(value, bool):
        return _EMPTY
    size = float(value)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(size) < 1024 or unit == "TiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")  # pragma: no cover


def _plain(value: object) -> str:
    if value is None:
        return _EMPTY
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list | tuple):
        return ", ".join(_plain(item) for item in value) or _EMPTY
    return str(value)


@attrs.frozen
class Column:
    """A table column: its header, the payload key it shows and how to show the value."""

    header: str
    key: str
    show: Callable[[object], str] = _plain


def _table(rows: Sequence[Mapping[str, Any]], columns: Sequence[Column], out: TextIO) -> None:
    from rich import box
    from rich.console import Console
    from rich.table import Table

    terminal = out.isatty()
    # Piped tables are not cut to 80 columns: a ``grep`` should see whole names.
    console = Console(file=out, width=None if terminal else 1000, no_color=not terminal)
    table = Table(box=box.SIMPLE_HEAD if terminal else None, pad_edge=False, highlight=False)
    for column in columns:
        table.add_column(column.header, overflow="fold")
    for row in rows:
        table.add_row(*(column.show(row.get(column.key)) for column in columns))
    console.print(table)


def emit(
    payload: Any,
    output: OutputFormat,
    columns: Sequence[Column],
    *,
    out: TextIO | None = None,
) -> None:
    """Print ``payload`` (a JSON-ready dict or list of dicts) in the requested format.

    A single object prints as a two-column table (field, value) over ``columns``.
    """
    out = out if out is not None else sys.stdout
    if output is OutputFormat.JSON:
        # Indented for a person at a terminal; compact (a third of the time) into a pipe.
        indent, separators = (2, None) if out.isatty() else (None, (",", ":"))
        out.write(json.dumps(payload, indent=indent, separators=separators, ensure_ascii=False))
        out.write("\n")
    elif output is OutputFormat.YAML:
        import yaml

        # Through JSON first: YAML then holds exactly the JSON values (enums as their values).
        plain = json.loads(json.dumps(payload))
        out.write(yaml.safe_dump(plain, sort_keys=False, allow_unicode=True))
    elif isinstance(payload, list):
        _table(payload, columns, out)
    else:
        rows = [{"field": c.header, "value": c.show(payload.get(c.key))} for c in columns]
        _table(rows, (Column("FIELD", "field"), Column("VALUE", "value")), out)


@contextmanager
def progress(total: int, description: str) -> Iterator[Callable[[], None]]:
    """Show a progress bar on standard error while the block runs; yield ``advance()``.

    The bar is drawn only when standard error is a terminal and there is more than one step:
    a script, a pipe or a CI log gets no control characters at all.
    """
    if total <= 1 or not sys.stderr.isatty():
        yield lambda: None
        return
    from rich.console import Console
    from rich.progress import Progress

    with Progress(console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(description, total=total)
        yield lambda: bar.advance(task)


@contextmanager
def byte_progress(description: str) -> Iterator[Callable[[int, int], None]]:
    """Like :func:`progress`, for work measured in bytes: yield ``update(done, total)``.

    ``update`` may be called from any thread (the library reports copies from a worker);
    Rich's progress takes its own lock. Nothing is drawn unless standard error is a terminal.
    """
    if not sys.stderr.isatty():
        yield lambda done, total: None
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(binary_units=True),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(description, total=None)
        yield lambda done, total: bar.update(task, completed=done, total=total or None)


def emit_tree(
    nodes: Sequence[Mapping[str, Any]],
    output: OutputFormat,
    label: Callable[[Mapping[str, Any]], str],
    *,
    title: str,
    out: TextIO | None = None,
) -> None:
    """Print a depth-first list of nodes (each with a ``depth``) as a tree, or as JSON/YAML.

    The machine formats get ``nodes`` unchanged (the REST API's list); a person gets the tree
    under ``title``, each node shown by ``label``.
    """
    if output is not OutputFormat.TABLE:
        emit(list(nodes), output, (), out=out)
        return
    from rich.console import Console
    from rich.text import Text
    from rich.tree import Tree

    out = out if out is not None else sys.stdout
    terminal = out.isatty()
    root = Tree(Text(title), highlight=False)
    # The last node seen at each depth: a node's parent is the last one a level up.
    open_at: list[Tree] = [root]
    for node in nodes:
        depth = int(node.get("depth", 0))
        del open_at[depth + 1 :]
        # Text, not markup: a name like "[pre-upgrade]" prints as it is.
        branch = open_at[-1].add(Text(label(node)), highlight=False)
        open_at.append(branch)
    console = Console(file=out, width=None if terminal else 1000, no_color=not terminal)
    console.print(root)
