"""The Runner contract: cheap construction, ``activate`` / ``infer`` / ``deactivate``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

if TYPE_CHECKING:
    from ..profiles.schema import Profile

PrecisionName = Literal["fp32", "fp16", "int8"]
FloatPrecisionName = Literal["f32", "bf16", "fp16", "auto"]
OpenVinoHint = Literal["latency", "throughput"]
OrtGraphOptimization = Literal["disable", "basic", "extended", "all"]


@dataclass(frozen=True)
class RunnerSettings:
    """How a runtime runs a model: one value for parity, bench and tune alike.

    Build it with :meth:`from_profile` (a profile's ``runtime:`` section and precision, with
    the caller's explicit overrides winning); the defaults are the profile schema's."""

    threads: int | None = None  # None: the runtime's choice within the affinity mask
    #: the input batch to run; a runner whose graph has another (or a dynamic) batch
    #: reshapes it where the runtime can (OpenVINO). None: the graph's own batch
    batch: int | None = None
    #: the build precision (what the artifact is: fp32, fp16 or int8)
    precision: PrecisionName = "fp32"
    #: the inference precision of the float parts (edgekit/precision.py): f32, bf16, fp16, or
    #: auto (the runtime's default); an fp16 IR on a CPU is a storage format, run at this
    float_precision: FloatPrecisionName = "f32"
    openvino_hint: OpenVinoHint = "latency"
    openvino_streams: int | None = None
    ort_graph_optimization: OrtGraphOptimization = "all"

    @classmethod
    def from_profile(cls, profile: Profile | None, **overrides: Any) -> RunnerSettings:
        """The settings a profile asks for; ``overrides`` that are not None win (a CLI flag
        left unset does not mask the profile). ``profile`` may be None: the defaults."""
        kw: dict[str, Any] = {}
        if profile is not None:
            rt = profile.runtime
            kw = dict(threads=rt.threads, openvino_hint=rt.openvino_hint,
                      openvino_streams=rt.openvino_streams,
                      ort_graph_optimization=rt.ort_graph_optimization,
                      precision=getattr(profile.precision, "value", profile.precision),
                      float_precision=profile.float_policy)
        unknown = set(overrides) - {f.name for f in fields(cls)}
        if unknown:
            raise TypeError(f"RunnerSettings has no field {', '.join(sorted(unknown))}")
        kw.update({k: v for k, v in overrides.items() if v is not None})
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

    def input_shape(self) -> list[Any] | None:
        """The first input's shape once active (a dynamic size as -1 or a name); None when
        the runtime cannot tell (bench then needs a bundle's reference input)."""
        return None

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


#: the name parity and bench give a model's primary output, whatever the graph calls it
OUTPUT = "output0"


def run_backend(runner: Runner, inputs: np.ndarray, extra: list[str]) -> dict[str, np.ndarray]:
    """Run every reference sample (``inputs``: one runner call per entry); stack each output
    along a new sample axis. The model's primary output is also given as ``output0``."""
    stacked: dict[str, list[np.ndarray]] = {}
    with runner:
        for k in range(inputs.shape[0]):
            outs = runner.infer({"images": inputs[k]})
            for name, arr in outs.items():
                stacked.setdefault(name, []).append(np.asarray(arr))
    out = {n: np.stack(v) for n, v in stacked.items()}
    if OUTPUT not in out:
        primary = [n for n in runner.output_names if n not in extra]
        if primary:
            out[OUTPUT] = out[primary[0]]
    return out
