"""Stdout is for data; third-party chatter is shown only with ``--verbose``, on stderr.

Torch, Ultralytics, NNCF, OpenVINO and OpenCV print from Python and from C (warnings,
progress bars, "Creating new Ultralytics Settings"), often to stdout, where they would
break ``--json -``. While a command runs, file descriptors 1 and 2 therefore point at
/dev/null (or, with ``--verbose``, at the real stderr), which catches C-level writes that
bypass ``sys.stdout`` too. edgekit itself writes to duplicates of the real descriptors
taken before: :func:`data_out` (stdout: JSON, YAML, tables a user asked for) and
:func:`messages_out` (stderr: logs and errors).
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from typing import TextIO


class _Real:
    out: TextIO | None = None
    err: TextIO | None = None


_real = _Real()


def data_out() -> TextIO:
    """The real stdout, for data."""
    return _real.out or sys.stdout


def messages_out() -> TextIO:
    """The real stderr, for edgekit's own messages."""
    return _real.err or sys.stderr


def _fileno(stream: TextIO) -> int | None:
    try:
        return stream.fileno()
    except (AttributeError, OSError, ValueError):  # e.g. typer's CliRunner, pytest capture
        return None


def _flush_all() -> None:
    """Flush Python's and C's buffered output, so it lands where it was written to."""
    for s in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            s.flush()
    with contextlib.suppress(Exception):
        import ctypes

        ctypes.CDLL(None).fflush(None)


def _reopen(fd: int, like: TextIO) -> TextIO:
    return os.fdopen(os.dup(fd), "w", buffering=1, encoding=getattr(like, "encoding", None)
                     or "utf-8", errors="replace")


@contextlib.contextmanager
def third_party_output(verbose: bool) -> Iterator[None]:
    """Send everything written to fd 1 and fd 2 to /dev/null (``verbose``: to stderr) and
    keep the real ones for :func:`data_out` and :func:`messages_out`."""
    if _real.out is not None or _fileno(sys.stdout) != 1 or _fileno(sys.stderr) != 2:
        # nested, or the streams are not the process's own (an embedding test runner):
        # nothing to redirect at the descriptor level
        yield
        return
    _flush_all()
    out, err = _reopen(1, sys.stdout), _reopen(2, sys.stderr)
    sink = os.dup(2) if verbose else os.open(os.devnull, os.O_WRONLY)
    saved = os.dup(1), os.dup(2)
    os.dup2(sink, 1)
    os.dup2(sink, 2)
    os.close(sink)
    _real.out, _real.err = out, err
    try:
        yield
    finally:
        _flush_all()
        for s in (out, err):
            with contextlib.suppress(Exception):
                s.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in saved:
            os.close(fd)
        _real.out = _real.err = None
        for s in (out, err):
            with contextlib.suppress(Exception):
                s.close()
