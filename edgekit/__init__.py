"""edgekit: export, prove and time Ultralytics attention detectors on edge runtimes.

Importing edgekit loads no torch, ultralytics or runtime: they load lazily, when used.
The library prints nothing: it returns results and logs progress and warnings through
:mod:`logging` under the ``edgekit`` logger (the command line shows them on stderr).
"""

from __future__ import annotations

import logging

__version__ = "0.1.0"

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
