"""Runtimes behind one Runner contract. Torch is a runtime too (for bench baselines).

``get_runner(name, ...)`` constructs a runner cheaply; resources are taken in
``activate()`` (or on entering the context manager).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import UsageError
from .base import FunctionRunner, Runner, RunnerSettings

RUNTIMES = ("onnxruntime", "openvino", "tensorrt")

__all__ = ["RUNTIMES", "FunctionRunner", "Runner", "RunnerSettings", "get_runner"]


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
