"""ONNX Runtime runner. Extra outputs are exposed by adding them as graph outputs of an
in-memory copy of the model; the file on disk keeps its original outputs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from .._lazy import require, version_of
from ..errors import UsageError
from .base import Runner, RunnerSettings

_LEVELS = {"disable": "ORT_DISABLE_ALL", "basic": "ORT_ENABLE_BASIC",
           "extended": "ORT_ENABLE_EXTENDED", "all": "ORT_ENABLE_ALL"}


class OrtRunner(Runner):
    name = "onnxruntime"

    def __init__(self, model_path: Path, *, extra_outputs: list[str] | None = None,
                 settings: RunnerSettings | None = None) -> None:
        super().__init__(extra_outputs, settings)
        self.model_path = Path(model_path)
        self.session: Any = None

    def _model_bytes(self) -> bytes:
        if not self.extra_outputs:
            return self.model_path.read_bytes()
        onnx = require("onnx", extra="onnxruntime", purpose="exposing tap tensors in ONNX Runtime")
        model = onnx.load(str(self.model_path))
        have = {o.name for o in model.graph.output}
        for name in self.extra_outputs:
            if name not in have:
                model.graph.output.append(onnx.helper.make_empty_tensor_value_info(name))
        return model.SerializeToString()

    def _activate(self) -> None:
        ort = require("onnxruntime", purpose="the onnxruntime backend")
        opts = ort.SessionOptions()
        opts.graph_optimization_level = getattr(ort.GraphOptimizationLevel,
                                                _LEVELS[self.settings.ort_graph_optimization])
        if self.settings.threads:
            opts.intra_op_num_threads = self.settings.threads
            opts.inter_op_num_threads = 1
        opts.log_severity_level = 3
        try:
            self.session = ort.InferenceSession(self._model_bytes(), opts,
                                                providers=["CPUExecutionProvider"])
        except Exception as exc:
            raise UsageError(f"{self.model_path}: ONNX Runtime cannot load it: "
                             f"{str(exc).splitlines()[0][:300]}") from exc
        self.input_names = [i.name for i in self.session.get_inputs()]
        self.output_names = [o.name for o in self.session.get_outputs()]

    def _deactivate(self) -> None:
        self.session = None

    def infer(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        outs = self.session.run(self.output_names, feed)
        return dict(zip(self.output_names, outs))

    def input_shape(self) -> list[Any]:
        return list(self.session.get_inputs()[0].shape)

    def run_bare(self, feed: dict[str, np.ndarray]) -> Any:
        """The bare runtime call, for measuring the harness's overhead."""
        return self.session.run(None, feed)

    def versions(self) -> dict[str, Any]:
        return {"onnxruntime": version_of("onnxruntime")}

    def describe(self) -> dict[str, Any]:
        return {"intra_op_threads": self.settings.threads or "default",
                "graph_optimization": self.settings.ort_graph_optimization,
                "provider": "CPUExecutionProvider"}
