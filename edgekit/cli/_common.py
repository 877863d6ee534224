"""Shared CLI plumbing: error handling, consoles, state."""

from __future__ import annotations

import functools
import sys
import traceback
from collections.abc import Callable
from typing import Any, TypeVar

import typer

from ..errors import EdgekitError

EXIT_INTERNAL = 70  # an unexpected error: a bug in edgekit


class _State:
    debug = False


state = _State()
F = TypeVar("F", bound=Callable[..., Any])


def err_console():
    from rich.console import Console

    c = Console(stderr=True, highlight=False)
    if not c.is_terminal:
        c = Console(stderr=True, highlight=False, width=150)
    return c


def fail(message: str, code: int) -> typer.Exit:
    from rich.markup import escape

    err_console().print(f"[red]edgekit: error:[/] {escape(message)}", soft_wrap=True)
    return typer.Exit(code)


def handle_errors(fn: F) -> F:
    """Turn library errors into one line on stderr and a documented exit code."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except typer.Exit:
            raise
        except EdgekitError as exc:
            if state.debug:
                traceback.print_exc()
            raise fail(str(exc), exc.exit_code) from None
        except KeyboardInterrupt:
            raise fail("interrupted; nothing was left under the final name", 130) from None
        except Exception as exc:  # a bug, or an unexpected library failure
            if state.debug:
                traceback.print_exc()
            msg = str(exc).splitlines()[0][:300] if str(exc) else ""
            raise fail(f"unexpected {type(exc).__name__}: {msg} (run with --debug for a "
                       "traceback)", EXIT_INTERNAL) from None

    return wrapper  # type: ignore[return-value]


def write_reports(report: dict[str, Any], json_out: str | None, junit: str | None, *,
                  junit_writer: Callable[[dict[str, Any], str], None],
                  summary: Callable[[dict[str, Any]], None]) -> None:
    """The report files a gating command writes: --json, --junit, the GitHub step summary."""
    from ..parity.report import write_json

    if json_out:
        write_json(report, json_out)
    if junit:
        junit_writer(report, junit)
    summary(report)


def log(message: str) -> None:
    err_console().print(message, soft_wrap=True)


def stdout_is_data() -> bool:
    return not sys.stdout.isatty()
