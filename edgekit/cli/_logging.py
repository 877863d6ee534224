"""The library logs (``logging.getLogger(__name__)`` under ``edgekit``); a command shows
those messages on stderr as edgekit's own lines: a warning with its ``warning:`` prefix,
anything else as it is. Nothing of them reaches stdout, which carries data only."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator


class ConsoleHandler(logging.Handler):
    """Prints each record on :func:`edgekit.cli._common.err_console` (the real stderr, looked
    up per message: third-party output may be redirected while a command runs)."""

    def emit(self, record: logging.LogRecord) -> None:
        from rich.markup import escape

        from ._common import err_console

        try:
            text = escape(record.getMessage())
            if record.levelno >= logging.WARNING:
                text = f"[yellow]warning:[/] {text}"
            err_console().print(text, soft_wrap=True)
        except Exception:
            self.handleError(record)


@contextlib.contextmanager
def library_messages() -> Iterator[None]:
    """While a command runs: edgekit's log records at INFO and above go to the console."""
    root = logging.getLogger("edgekit")
    if any(isinstance(h, ConsoleHandler) for h in root.handlers):  # nested: already shown
        yield
        return
    handler = ConsoleHandler(logging.INFO)
    level, propagate = root.level, root.propagate
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    root.propagate = False
    try:
        yield
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
        root.propagate = propagate
