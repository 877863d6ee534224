"""edgekit: export, prove and time Ultralytics attention detectors on edge runtimes.

Importing edgekit loads no torch, ultralytics or runtime: they load lazily, when used.
The library prints nothing: it returns results and logs progress and warnings through
:mod:`logging` under the ``edgekit`` logger (the command line shows them on stderr).
"""

from __future__ import annotations

import logging
from typing import Any

__version__ = "0.1.0"

from . import _registry
from .errors import (
    BackendError,
    ConfigError,
    EdgekitError,
    GateFailed,
    IntegrityError,
    MissingBackendError,
    UsageError,
)

logging.getLogger(__name__).addHandler(logging.NullHandler())


def _runtime_registry() -> Any:
    """The contract (bundle, profiles) asks the runtime registry for names through this
    late-bound hook, so that it never imports the layer above it."""
    from . import runtimes

    return runtimes


_registry.RUNTIMES.install(_runtime_registry)

__all__ = [
    "BackendError",
    "ConfigError",
    "EdgekitError",
    "GateFailed",
    "IntegrityError",
    "MissingBackendError",
    "UsageError",
    "__version__",
]
