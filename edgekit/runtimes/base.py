"""The Runner contract: cheap construction, ``activate`` / ``infer`` / ``deactivate``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass(frozen=True)
class RunnerSettings:
    threads: int | None = None
    openvino_hint: str = "latency"  # "latency" | "throughput"
    openvino_streams: int | None = None
    ort_graph_optimization: str = "all"
    device: str = "CPU"  # OpenVINO device, or "cuda" for torch
    precision: str = "fp32"
    #: the float parts' inference precision (edgekit/precision.py): f32, bf16, fp16, auto
    float_precision: str = "f32"
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_profile(cls, profile: Any, **over: Any) -> RunnerSettings:
        rt = profile.runtime
        kw = dict(threads=rt.threads, openvino_hint=rt.openvino_hint,
                  openvino_streams=rt.openvino_streams,
                  ort_graph_optimization=rt.ort_graph_optimization,
                  precision=profile.precision.value, float_precision=profile.float_policy)
        kw.update({k: v for k, v in over.items() if v is not None})
        return cls(**kw)


class Runner:
    """Base runner. Subclasses implement ``_activate``, ``infer`` and ``_deactivate``.

    ``infer(feed)`` takes ``{input name: array}`` and returns ``{output name: array}``
    for the model's outputs plus every requested extra output (tap tensor).
    """

    name = "runner"

    def __init__(self, extra_outputs: list[str] | None = None,
                 settings: RunnerSettings | None = None) -> None:
        self.extra_outputs = list(extra_outputs or [])
        self.settings = settings or RunnerSettings()
        self.active = False
        self.input_names: list[str] = []
        self.output_names: list[str] = []

    # lifecycle -------------------------------------------------------------
    def activate(self) -> None:
        if not self.active:
            self._activate()
            self.active = True

    def deactivate(self) -> None:
        if self.active:
            self._deactivate()
            self.active = False

    def __enter__(self) -> Runner:
        self.activate()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.deactivate()

    # to implement ----------------------------------------------------------
    def _activate(self) -> None:
        raise NotImplementedError

    def _deactivate(self) -> None:
        pass

    def infer(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        raise NotImplementedError

    def versions(self) -> dict[str, Any]:
        return {}

    def describe(self) -> dict[str, Any]:
        """Settings actually in force, for reports."""
        return {}

    def synchronize(self) -> None:
        """Wait for the device (GPU runners); CPU runners return at once."""


class FunctionRunner(Runner):
    """A test double: ``fn(feed) -> outputs``. Lets parity and bench logic be tested
    without any heavy runtime."""

    name = "function"

    def __init__(self, fn: Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]],
                 name: str = "function", **kw: Any) -> None:
        super().__init__(**kw)
        self.fn = fn
        self.name = name

    def _activate(self) -> None:
        pass

    def infer(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return self.fn(feed)
