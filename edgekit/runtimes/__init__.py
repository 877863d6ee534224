"""Runtimes as plug-ins behind one registry, and the Runner contract they share.

Every module or package of :mod:`edgekit.runtimes` other than :mod:`.base` and
:mod:`.plugin` is a runtime: it subclasses :class:`RuntimePlugin` and registers an
instance. They are found and imported here, so a new runtime is one new module (plus its
profile YAML and tests). Everything else asks the registry::

    plugin = get_runtime("openvino")       # by name (a profile's runtimes, --backend)
    plugin = runtime_for_file(path)        # by a bare model file's suffix
    runner = plugin.runner(path, settings=RunnerSettings.from_profile(profile))

A runner is cheap to construct; resources are taken in ``activate()`` (or on entering the
context manager). Nothing here imports a runtime library.
"""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path
from typing import TYPE_CHECKING

from .base import OUTPUT, FunctionRunner, Runner, RunnerSettings, run_backend
from .plugin import (
    REGISTRY,
    BuildContext,
    Built,
    Host,
    ParityRun,
    Quantizer,
    Registry,
    Requirement,
    RuntimePlugin,
    current,
    register,
    using,
)

if TYPE_CHECKING:
    from ..bundle import Bundle

_INTERNAL = {"base", "plugin"}


def get_runtime(name: str) -> RuntimePlugin:
    """A runtime by name; an unknown name is a usage error listing the known ones."""
    return current().get(name)


def runtime_names(*, deployable: bool | None = None) -> list[str]:
    """Registered runtimes, in order; ``deployable=True``: those a profile may target."""
    return current().names(deployable=deployable)


def plugins() -> list[RuntimePlugin]:
    return list(current())


def runtime_for_file(path: Path) -> str:
    """Which runtime loads a bare model file, by its suffix."""
    return current().for_file(path).name


def check_installed(backend: str) -> None:
    """Exit 3 before any work when a backend's package is missing (found without importing
    it); the message names the extra to install. Commands share it, so the same missing
    backend gives the same code everywhere."""
    get_runtime(backend).check_installed()


def get_runner(name: str, model_path: Path, *, extra_outputs: list[str] | None = None,
               settings: RunnerSettings | None = None) -> Runner:
    """The runner of runtime ``name`` for a model file."""
    return get_runtime(name).runner(model_path, extra_outputs=extra_outputs, settings=settings)


def bundle_artifacts(bundle: Bundle) -> dict[str, Path]:
    """The file each runtime runs from ``bundle``, for those it has one for."""
    return {p.name: a for p in current() if (a := p.artifact_of(bundle)) is not None}


def installed_versions() -> dict[str, str | None]:
    """Every runtime's packages and the export toolchain's, with their versions (None: not
    installed), for reports and ``doctor``."""
    from ..hostinfo import toolchain

    out: dict[str, str | None] = {}
    for p in current():
        out.update(p.versions())
    return {**out, **toolchain()}


#: entry-point group through which an installed package adds runtimes (its value names the
#: module to import, which registers its plug-in), and the environment variable that names
#: more such modules (comma-separated; a plug-in that is not packaged)
ENTRY_POINTS = "edgekit.runtimes"
PLUGINS_ENV = "EDGEKIT_RUNTIMES"


#: plug-ins named by an entry point or the environment that failed to import (doctor shows
#: them); edgekit runs without them
LOAD_ERRORS: list[str] = []


def _load_plugins() -> None:
    import os
    from importlib import metadata

    for m in pkgutil.iter_modules(__path__):
        if m.name not in _INTERNAL and not m.name.startswith("_"):
            importlib.import_module(f"{__name__}.{m.name}")
    modules = [ep.value.split(":")[0] for ep in metadata.entry_points(group=ENTRY_POINTS)]
    modules += [m.strip() for m in os.environ.get(PLUGINS_ENV, "").split(",") if m.strip()]
    for name in modules:
        try:
            importlib.import_module(name)
        except Exception as exc:  # noqa: BLE001 - a broken plug-in must not break edgekit
            LOAD_ERRORS.append(f"runtime plug-in {name} failed to load: "
                               f"{type(exc).__name__}: {exc}")


_load_plugins()

__all__ = [
    "ENTRY_POINTS", "LOAD_ERRORS", "OUTPUT", "PLUGINS_ENV", "REGISTRY", "BuildContext", "Built",
    "FunctionRunner", "Host", "ParityRun", "Quantizer", "Registry", "Requirement", "Runner",
    "RunnerSettings", "RuntimePlugin", "bundle_artifacts", "check_installed", "get_runner",
    "get_runtime", "installed_versions", "plugins", "register", "run_backend",
    "runtime_for_file", "runtime_names", "using",
]
