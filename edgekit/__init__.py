"""edgekit: export, prove and time Ultralytics attention detectors on edge runtimes.

Importing edgekit loads no torch, ultralytics or runtime: they load lazily, when used.
The library prints nothing: it returns results and logs progress and warnings through
:mod:`logging` under the ``edgekit`` logger (the command line shows them on stderr).

The public functions (:mod:`edgekit.api`)::

    result = edgekit.export("best.pt", "intel-cpu-fp32")
    edgekit.parity(result.bundle).first_divergent
"""

from __future__ import annotations

import importlib
import logging
import sys
import types
from typing import TYPE_CHECKING, Any

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


class _Function:
    """``edgekit.export`` and its kin: the public function of :mod:`edgekit.api`, imported
    when first called (``import edgekit`` stays light). Four of them share their name with a
    package (``edgekit.export`` is also the exporter's); attributes other than the call
    reach that package, so ``edgekit.export.pipeline`` still names the module."""

    __slots__ = ("_name", "_package")

    def __init__(self, name: str, package: bool) -> None:
        self._name = name
        self._package = package

    @property
    def __wrapped__(self) -> Any:  # inspect.signature and help() follow it
        return getattr(importlib.import_module(f"{__name__}.api"), self._name)

    @property
    def __doc__(self) -> str | None:  # type: ignore[override]
        return self.__wrapped__.__doc__

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.__wrapped__(*args, **kwargs)

    def __getattr__(self, attr: str) -> Any:
        if not self._package or attr.startswith("__"):
            raise AttributeError(attr)
        return getattr(importlib.import_module(f"{__name__}.{self._name}"), attr)

    def __repr__(self) -> str:
        return f"<edgekit function {self._name}>"


_FUNCTIONS = {"bench": True, "eval": True, "export": True, "load_bundle": False,
              "parity": True, "tune": True}


class _Package(types.ModuleType):
    """Importing ``edgekit.export`` (the package) binds it on edgekit; the public function
    keeps the name (the package stays in ``sys.modules`` and behind the function)."""

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _FUNCTIONS and isinstance(value, types.ModuleType):
            return
        super().__setattr__(name, value)


if TYPE_CHECKING:
    from .api import bench, eval, export, load_bundle, parity, tune
else:
    for _name, _package in _FUNCTIONS.items():
        globals()[_name] = _Function(_name, _package)
    del _name, _package
sys.modules[__name__].__class__ = _Package

__all__ = [
    "BackendError",
    "ConfigError",
    "EdgekitError",
    "GateFailed",
    "IntegrityError",
    "MissingBackendError",
    "UsageError",
    "__version__",
    "bench",
    "eval",
    "export",
    "load_bundle",
    "parity",
    "tune",
]
