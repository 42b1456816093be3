"""How commands print: tables that never cut a figure, and progress for long steps.

- :func:`print_table`: on a terminal, a Rich table whose text wraps when the
  terminal is narrow (``105,400`` is never shown as ``105,4…``); when the output is
  piped or captured, or the terminal is too narrow for every figure, the same table
  as CSV (a ``# title`` line, a header and one line per row).
- :func:`stage_progress`: a spinner naming the running sub-step with the elapsed
  time, and one line per finished sub-step with its duration, so a long step
  shows progress in a terminal and in a log alike.
"""

from __future__ import annotations

import csv
import io
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.errors import StyleSyntaxError
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.style import Style
from rich.table import Table
from rich.text import Text

_TAG = re.compile(r"\[(/?)([^\[\]]*)\]")


def _is_style(tag: re.Match[str]) -> bool:
    if tag.group(1) and not tag.group(2):
        return True  # [/] closes the last style
    try:
        Style.parse(tag.group(2))
    except StyleSyntaxError:
        return False
    return True


def _plain(cell: object) -> str:
    """A cell's text without style markup; units in brackets (``[kWh]``) are kept."""
    if isinstance(cell, Text):
        return cell.plain
    if isinstance(cell, str):
        return _TAG.sub(lambda m: "" if _is_style(m) else m.group(0), cell)
    return str(cell)


def table_csv(table: Table) -> str:
    """The cells of a Rich table as CSV text (markup removed), title first as ``# title``."""
    buffer = io.StringIO()
    if table.title:
        buffer.write(f"# {_plain(table.title)}\n")
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([_plain(c.header) for c in table.columns])
    cells = [list(c.cells) for c in table.columns]
    for i in range(table.row_count):
        writer.writerow([_plain(col[i]) if i < len(col) else "" for col in cells])
    return buffer.getvalue()


def min_width(table: Table) -> int:
    """Columns needed [characters] to show ``table`` with every word (every figure) whole."""

    def longest(cell: object) -> int:
        return max((len(word) for word in _plain(cell).split()), default=0)

    widths = [max([longest(c.header), *(longest(x) for x in c.cells)]) for c in table.columns]
    return 1 + sum(w + 3 for w in widths)  # a padded cell and its right border each


def print_table(table: Table, out: Console) -> None:
    """Print ``table`` wrapped to the terminal's width, or as CSV when piped or too narrow.

    A terminal too narrow to show every figure whole gets CSV too.

    Parameters
    ----------
    table : rich.table.Table
        The table (its cells are kept; only column overflow is changed).
    out : rich.console.Console
        Where to print.
    """
    narrow = min_width(table) > out.width
    for column in table.columns:
        column.overflow = "fold"  # a word longer than a whole line breaks, never ends in …
        if all(len(_plain(cell).split()) <= 1 for cell in column.cells):
            column.no_wrap = True  # figures stay on one line; text columns give way
            column.min_width = max((len(_plain(cell)) for cell in column.cells), default=0)
    if not out.is_terminal or narrow:
        out.print(table_csv(table), end="", markup=False, highlight=False, soft_wrap=True)
        return
    out.print(table)


@contextmanager
def stage_progress(out: Console, title: str) -> Iterator[Callable[[str], None]]:
    """Progress of a long step made of named sub-steps.

    Yields a function to call with each sub-step's name as it starts; the
    previous sub-step is then reported as done with its duration [s].

    Examples
    --------
    >>> from rich.console import Console
    >>> out = Console(file=io.StringIO(), force_terminal=False)
    >>> with stage_progress(out, "backtest") as started:
    ...     started("load/naive")
    >>> "load/naive" in out.file.getvalue()
    True
    """
    state: dict[str, object] = {"name": None, "since": time.perf_counter()}
    columns = (SpinnerColumn(), TextColumn("[bold]{task.description}"), TimeElapsedColumn())
    with Progress(*columns, console=out, transient=True) as bar:
        task = bar.add_task(title, total=None)

        def finish() -> None:
            if state["name"] is not None:
                took = time.perf_counter() - float(state["since"])  # type: ignore[arg-type]
                out.print(f"{title}: {state['name']} done in {took:.1f} s", highlight=False)

        def started(name: str) -> None:
            finish()
            state["name"], state["since"] = name, time.perf_counter()
            bar.update(task, description=f"{title}: {name}")

        yield started
        finish()
