"""Lazy imports of heavy or optional dependencies.

Nothing heavy is imported at package import. Code that needs a runtime calls
``require("openvino", extra="openvino")`` at the point of use and gets either
the module or a :class:`MissingBackendError` that names the extra to install.
Nothing is ever installed automatically.
"""

from __future__ import annotations

import importlib
import importlib.util
from types import ModuleType

from .errors import MissingBackendError

#: import name -> (pip extra that provides it, human name): the export toolchain and the
#: optional tools. A runtime's own packages are named by its plug-in
#: (``edgekit.runtimes``), which passes ``extra=`` itself.
KNOWN: dict[str, tuple[str, str]] = {
    "torch": ("export", "PyTorch"),
    "ultralytics": ("export", "Ultralytics"),
    "onnx": ("export", "onnx"),
    "onnxslim": ("export", "onnxslim"),
    "onnxscript": ("export", "onnxscript"),
    "matplotlib": ("plot", "matplotlib"),
    "faster_coco_eval": ("eval", "faster-coco-eval"),
}


#: environment set (unless the user set it) before a library's first import. NNCF sends
#: telemetry by default through openvino-telemetry; edgekit sends nothing, and on a machine
#: without network the sender was seen to hang the process at exit. NNCF_CI is NNCF's own
#: switch that turns it off. Ultralytics sends usage events from a thread (DNS included) when
#: it thinks it is online; an export's forked child was seen to deadlock in getaddrinfo
#: on the resolver lock that thread held at the fork. YOLO_OFFLINE is its own switch, and
#: edgekit downloads nothing from Ultralytics' hub anyway.
QUIET_ENV: dict[str, dict[str, str]] = {"nncf": {"NNCF_CI": "1"},
                                        "ultralytics": {"YOLO_OFFLINE": "true"}}


def quiet_env() -> None:
    """Set every library's switch of :data:`QUIET_ENV` (unless the user set it): the CLI's
    process does this first, before anything imports those libraries."""
    import os

    for env in QUIET_ENV.values():
        for key, value in env.items():
            os.environ.setdefault(key, value)


def require(name: str, *, extra: str | None = None, purpose: str | None = None) -> ModuleType:
    """Import ``name`` or raise MissingBackendError naming the extra that provides it."""
    import os

    for key, value in QUIET_ENV.get(name.split(".")[0], {}).items():
        os.environ.setdefault(key, value)
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        top = name.split(".")[0]
        extra = extra or KNOWN.get(top, (None, top))[0]
        human = KNOWN.get(top, (None, top))[1]
        why = f" (needed for {purpose})" if purpose else ""
        raise MissingBackendError(
            f"{human} is not installed or failed to import{why}: {exc}.", extra=extra
        ) from exc


def available(name: str) -> bool:
    """True when ``name`` can be found, without importing it."""
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def version_of(dist: str) -> str | None:
    """Installed distribution version, without importing the package."""
    from importlib import metadata

    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None
