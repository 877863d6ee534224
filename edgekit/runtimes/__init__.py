"""Runtimes behind one Runner contract. Torch is a runtime too (for bench baselines).

``get_runner(name, ...)`` constructs a runner cheaply; resources are taken in
``activate()`` (or on entering the context manager).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import MissingBackendError, UsageError
from .base import FunctionRunner, Runner, RunnerSettings

RUNTIMES = ("onnxruntime", "openvino", "tensorrt")
#: what each backend imports (the torch backend rebuilds the model with Ultralytics)
BACKEND_MODULES = {"onnxruntime": ("onnxruntime",), "openvino": ("openvino",),
                   "tensorrt": ("tensorrt",), "torch": ("torch", "ultralytics")}

__all__ = ["BACKEND_MODULES", "RUNTIMES", "FunctionRunner", "Runner", "RunnerSettings",
           "check_installed", "get_runner", "no_artifact"]


def check_installed(backend: str) -> None:
    """Exit 3 before any work when a backend's package is missing (found without importing
    it); the message names the extra to install. Commands share it, so the same missing
    backend gives the same code everywhere."""
    from .._lazy import KNOWN, available

    for mod in BACKEND_MODULES.get(backend, ()):
        if not available(mod):
            extra, human = KNOWN[mod]
            raise MissingBackendError(f"{human} is not installed (needed for the {backend} "
                                      "backend).", extra=extra)


def no_artifact(where: Path | str, backend: str, has: list[str]) -> MissingBackendError:
    """The error for a bundle (or model file) that carries nothing for ``backend``."""
    how = (f"build its engine on the GPU with `edgekit export {where} --profile PROFILE` "
           "(nvidia-gpu-fp16, jetson-orin-*)" if backend == "tensorrt"
           else f"export it with a profile that targets {backend}")
    return MissingBackendError(f"{where} has no {backend} artifact (has: "
                               f"{', '.join(has) or 'none'}); {how}.")


def get_runner(name: str, model_path: Path, *, extra_outputs: list[str] | None = None,
               settings: RunnerSettings | None = None) -> Runner:
    settings = settings or RunnerSettings()
    if name == "onnxruntime":
        from .onnxruntime import OrtRunner

        return OrtRunner(model_path, extra_outputs=extra_outputs, settings=settings)
    if name == "openvino":
        from .openvino import OpenVinoRunner

        return OpenVinoRunner(model_path, extra_outputs=extra_outputs, settings=settings)
    if name == "tensorrt":
        from .tensorrt import TensorRTRunner

        return TensorRTRunner(model_path, extra_outputs=extra_outputs, settings=settings)
    raise UsageError(f"unknown backend '{name}': choose from {', '.join(RUNTIMES)}, torch")


def runtime_for_file(path: Path) -> str:
    """Which runtime loads a bare model file, by its suffix."""
    suffix = path.suffix.lower()
    table: dict[str, Any] = {".onnx": "onnxruntime", ".xml": "openvino", ".engine": "tensorrt",
                             ".plan": "tensorrt"}
    if suffix not in table:
        raise UsageError(f"{path}: unsupported model file (expected .onnx, .xml or .engine)")
    return table[suffix]
