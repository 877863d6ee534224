"""The edgekit error tree. Every error knows the process exit code it maps to.

Exit codes (documented in the README):
    0  ok
    1  a gate failed (parity or latency)
    2  usage or configuration error
    3  a backend (runtime or export toolchain) is not available, or cannot handle this model
    4  integrity error (a bundle file is changed, truncated or incompatible)
   70  an unexpected internal error (a bug; the CLI maps any other exception to it)
  130  interrupted
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_GATE = 1
EXIT_USAGE = 2
EXIT_BACKEND = 3
EXIT_INTEGRITY = 4


class EdgekitError(Exception):
    """Base of every error edgekit raises on purpose. Carries an exit code."""

    exit_code: int = EXIT_USAGE


class UsageError(EdgekitError):
    """Bad input from the user: a missing file, a wrong option value."""

    exit_code = EXIT_USAGE


class ConfigError(UsageError):
    """A profile (or another config file) is invalid."""


class BackendError(EdgekitError):
    """A runtime or toolchain is installed but fails on this model here: TensorRT cannot
    parse, build or run it, the graph simplifier changed the outputs. As with a missing
    backend, that backend cannot serve this model (exit 3); the message says what to try."""

    exit_code = EXIT_BACKEND


class MissingBackendError(BackendError):
    """A runtime or toolchain is not installed (or cannot run here)."""

    exit_code = EXIT_BACKEND

    def __init__(self, message: str, *, extra: str | None = None) -> None:
        if extra:
            message = f"{message} Install it with: pip install 'edgekit[{extra}]'"
        super().__init__(message)
        self.extra = extra


class IntegrityError(EdgekitError):
    """A bundle file does not match its manifest, or an artifact is incompatible."""

    exit_code = EXIT_INTEGRITY


class GateFailed(EdgekitError):
    """A parity or latency gate failed. Not a crash: the verdict is the result."""

    exit_code = EXIT_GATE


class Interrupted(EdgekitError):
    """Ctrl-C during a run that keeps what it measured: the report is written, marked
    INVALID and interrupted, and the process exits 130."""

    exit_code = 130
