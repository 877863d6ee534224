"""edgekit: export, prove and time Ultralytics attention detectors on edge runtimes.

Importing edgekit loads no torch, ultralytics or runtime: they load lazily, when used.
"""

from __future__ import annotations

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
