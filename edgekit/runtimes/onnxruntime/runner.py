"""ONNX Runtime runner. Extra outputs are exposed by adding them as graph outputs of an
in-memory copy of the model; the file on disk keeps its original outputs.

External data (a ``.data`` file beside the ``.onnx``) is resolved in the model's own
directory, whatever the working directory: a model without extra outputs is loaded by path,
an in-memory copy is given that directory. ONNX Runtime refuses locations that leave it
(``..``, absolute paths); that refusal is an integrity error."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..._lazy import require, version_of
from ...errors import IntegrityError, UsageError
from ...hostinfo import usable_cores
from ..base import Runner, RunnerSettings

_LEVELS = {"disable": "ORT_DISABLE_ALL", "basic": "ORT_ENABLE_BASIC",
           "extended": "ORT_ENABLE_EXTENDED", "all": "ORT_ENABLE_ALL"}


class OrtRunner(Runner):
    name = "onnxruntime"

    def __init__(self, model_path: Path, *, extra_outputs: list[str] | None = None,
                 settings: RunnerSettings | None = None) -> None:
        super().__init__(extra_outputs, settings)
        self.model_path = Path(model_path)
        self.session: Any = None

    def threads(self) -> int:
        """Intra-op threads in force: as asked, else one per physical core of this process's
        affinity mask (ONNX Runtime's own default counts the machine's physical cores and
        ignores ``taskset``: under ``taskset -c 0`` it ran several threads on one CPU)."""
        return self.settings.threads or usable_cores()

    def _model(self) -> str | bytes:
        if not self.extra_outputs:
            return str(self.model_path)
        onnx = require("onnx", extra="onnxruntime", purpose="exposing tap tensors in ONNX Runtime")
        # external data stays on disk; the session reads it from the model's directory
        model = onnx.load(str(self.model_path), load_external_data=False)
        have = {o.name for o in model.graph.output}
        for name in self.extra_outputs:
            if name not in have:
                model.graph.output.append(onnx.helper.make_empty_tensor_value_info(name))
        return model.SerializeToString()

    def _activate(self) -> None:
        ort = require("onnxruntime", extra="onnxruntime", purpose="the onnxruntime backend")
        opts = ort.SessionOptions()
        opts.graph_optimization_level = getattr(ort.GraphOptimizationLevel,
                                                _LEVELS[self.settings.ort_graph_optimization])
        opts.intra_op_num_threads = self.threads()
        opts.inter_op_num_threads = 1
        opts.log_severity_level = 3
        opts.add_session_config_entry("session.model_external_initializers_file_folder_path",
                                      str(self.model_path.resolve().parent))
        try:
            self.session = ort.InferenceSession(self._model(), opts,
                                                providers=["CPUExecutionProvider"])
        except Exception as exc:
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            if "External data path validation failed" in first:
                raise IntegrityError(f"{self.model_path}: external data refused by ONNX "
                                     f"Runtime: {first.split('Error: ', 1)[-1][:300]}") from exc
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
        return {"intra_op_threads": self.threads(),
                "threads_from": "requested" if self.settings.threads else "affinity mask",
                "graph_optimization": self.settings.ort_graph_optimization,
                "provider": "CPUExecutionProvider",
                # the CPU provider computes float in f32 whatever the policy asks
                "float_precision_policy": self.settings.float_precision,
                "inference_precision": "f32"}
