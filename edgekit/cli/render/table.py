"""Tables for human output that stay readable at 80 columns (a pipe, a CI log, a narrow
terminal): light borders, and long cells fold onto the next line instead of being cut."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any


def new_table(title: str | None, columns: Sequence[str], *, left: Iterable[str] = (),
              tight: bool = False) -> Any:
    """A rich Table: ``columns`` in order. Those in ``left`` are text: left-aligned, and they
    wrap (at spaces, else fold) when the console is narrow. The others are numbers:
    right-aligned and never broken. Nothing is cut with an ellipsis. ``tight``: one space
    between columns (a compact layout for a narrow console)."""
    from rich import box
    from rich.table import Table

    t = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False,
              show_edge=False, padding=(0, 0) if tight else (0, 1))
    lefts = set(left)
    for col in columns:
        text = col in lefts
        t.add_column(col, justify="left" if text else "right", overflow="fold",
                     no_wrap=not text)
    return t


def wrap_dotted(text: str, width: int) -> str:
    """Break a long dotted name (``model.26.decoder.layers.0.cross_attn``) after dots into
    lines of at most ``width`` characters, so a narrow table shows it whole."""
    if len(text) <= width:
        return text
    lines, cur = [], ""
    for part in text.replace(".", ".\0").split("\0"):
        if cur and len(cur) + len(part) > width:
            lines.append(cur)
            cur = ""
        cur += part
    lines.append(cur)
    return "\n".join(lines)


#: below this many columns, tables switch to their compact layout
WIDE = 110
