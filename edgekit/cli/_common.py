"""Shared CLI plumbing: error handling, consoles, state."""

from __future__ import annotations

import functools
import sys
import traceback
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

import typer

from ..errors import EdgekitError

EXIT_INTERNAL = 70  # an unexpected error: a bug in edgekit


#: ``--trust-checkpoint``, shared by every command that may open a checkpoint
TrustCheckpoint = Annotated[bool, typer.Option(
    "--trust-checkpoint", help="Unpickle the checkpoint in full, running any code it holds. Only "
    "for a file you trust: by default a checkpoint is read weights-only, and one that names "
    "anything but Ultralytics model classes is refused (exit 4).")]


class _State:
    debug = False


state = _State()
F = TypeVar("F", bound=Callable[..., Any])


def err_console():
    from rich.console import Console

    # in a pipe or a CI log: $COLUMNS, else 80; tables are laid out to stay readable there
    return Console(stderr=True, highlight=False)


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


def log(message: str) -> None:
    err_console().print(message, soft_wrap=True)


def stdout_is_data() -> bool:
    return not sys.stdout.isatty()
