"""A toy runtime, written as a third party would: one module, no edit to edgekit.

It runs a bundle's ONNX with ``onnx.reference`` (numpy). Its build copies ``model.onnx`` to
``numpy/model.onnx``; its taps are extra outputs of that graph. Importing the module
registers it (the test suite imports it, or names it in ``EDGEKIT_RUNTIMES``).
``TOY_FAULT`` (an environment variable naming a tensor) plants a fault: that tensor comes
out scaled by 0.5, so parity must fail there."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from edgekit.runtimes import (
    BuildContext,
    Built,
    Requirement,
    Runner,
    RunnerSettings,
    RuntimePlugin,
    register,
)

ARTIFACT = "numpy/model.onnx"


class NumpyRunner(Runner):
    name = "numpy"

    def __init__(self, path: Path, *, extra_outputs: list[str] | None = None,
                 settings: RunnerSettings | None = None) -> None:
        super().__init__(extra_outputs, settings)
        self.path = path
        self.session: Any = None

    def _activate(self) -> None:
        import onnx
        from onnx.reference import ReferenceEvaluator
        from onnx.reference.op_run import OpRun

        class GatherElements(OpRun):  # onnx's own is limited to 64 choices
            def _run(self, data, indices, axis=None):  # noqa: ANN001
                return (np.take_along_axis(data, indices.astype(np.int64), axis=axis),)

        model = onnx.load(str(self.path))
        have = {o.name for o in model.graph.output}
        for t in self.extra_outputs:
            if t not in have:
                model.graph.output.append(onnx.helper.make_empty_tensor_value_info(t))
        self.session = ReferenceEvaluator(model, new_ops=[GatherElements])
        self.input_names = [i.name for i in model.graph.input]
        self.output_names = [o.name for o in model.graph.output]

    def infer(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        outs = dict(zip(self.output_names, self.session.run(self.output_names, feed)))
        fault = os.environ.get("TOY_FAULT")
        if fault in outs:
            outs[fault] = outs[fault] * np.float32(0.5)
        return outs

    def input_shape(self) -> list[Any]:
        import onnx

        dims = onnx.load(str(self.path), load_external_data=False).graph.input[0].type
        return [d.dim_value or -1 for d in dims.tensor_type.shape.dim]

    def describe(self) -> dict[str, Any]:
        return {"engine": "onnx.reference", "inference_precision": "f32"}


class NumpyRuntime(RuntimePlugin):
    name = "numpy"
    description = "onnx.reference on numpy (a toy, for the plug-in tests)"
    requires = (Requirement("onnx", "export", "onnx"),)
    suffixes = (".npyonnx",)

    def build(self, ctx: BuildContext) -> Built:
        dst = ctx.root / ARTIFACT
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(ctx.onnx, dst)
        return Built({"precision": "fp32", "engine": "onnx.reference"}, ARTIFACT)

    def runner(self, artifact: Path | None, *, settings: RunnerSettings | None = None,
               extra_outputs: list[str] | None = None, bundle: Any = None,
               trust_checkpoint: bool = False) -> Runner:
        assert artifact is not None
        return NumpyRunner(artifact, extra_outputs=extra_outputs, settings=settings)


PLUGIN = register(NumpyRuntime())
