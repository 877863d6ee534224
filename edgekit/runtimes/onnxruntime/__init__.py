"""ONNX Runtime (CPU provider): runs the bundle's ``model.onnx``; INT8 is a static QDQ model
beside it (``onnxruntime/model.int8.onnx``), made with the profile's float scope."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..plugin import BuildContext, Built, Quantizer, Requirement, RuntimePlugin, register

if TYPE_CHECKING:
    from ...profiles.schema import Profile
    from ...scope import FloatScope

log = logging.getLogger(__name__)

ONNXRUNTIME = Requirement("onnxruntime", "onnxruntime", "ONNX Runtime",
                          ("onnxruntime", "onnxruntime-gpu"))
ONNX = Requirement("onnx", "onnxruntime", "onnx")
#: where an INT8 ONNX Runtime model lives in a bundle (model.onnx stays the portable fp32)
INT8_MODEL = "onnxruntime/model.int8.onnx"


class _OrtQuantizer(Quantizer):
    def __init__(self, ctx: BuildContext) -> None:
        self.ctx = ctx

    def float_build(self, root: Path, policy: str | None = None) -> Built:
        return Built({"precision": "fp32"})  # model.onnx itself

    def int8_build(self, root: Path, scope: FloatScope, policy: str | None = None) -> Built:
        from .quant import quantize_static_qdq

        ctx = self.ctx
        sel = ctx.select(scope)
        calib = ctx.calibration()
        log.info(f"onnxruntime int8: static QDQ on {len(calib)} images, keeping "
                 f"{len(sel.nodes)} nodes in float ({', '.join(scope.labels()) or 'nothing'})")
        info = quantize_static_qdq(ctx.onnx, root / INT8_MODEL, calib,
                                   exclude_nodes=list(sel.nodes))
        return Built({"precision": "int8", "quantized_from": "model.onnx", **info,
                      **scope.as_calibration()}, INT8_MODEL)


class OnnxRuntimePlugin(RuntimePlugin):
    name = "onnxruntime"
    description = "ONNX Runtime, CPU execution provider"
    requires = (ONNXRUNTIME,)
    int8_requires = (ONNX,)
    runner_class = "edgekit.runtimes.onnxruntime.runner:OrtRunner"
    suffixes = (".onnx",)
    loads_onnx = True
    quantizes = True
    fallback_artifact = "onnx"
    profiles = True

    def build(self, ctx: BuildContext) -> Built | None:
        if ctx.profile.precision.value != "int8":
            return None  # it runs model.onnx
        from ...scope import FloatScope

        t0 = time.perf_counter()
        built = _OrtQuantizer(ctx).int8_build(ctx.root, FloatScope.of(ctx.profile.calibration))
        return Built(built.section, built.artifact,
                     {"onnxruntime_int8": round(time.perf_counter() - t0, 2)})

    def quantizer(self, ctx: BuildContext, keep_tensors: Any = ()) -> Quantizer:
        return _OrtQuantizer(ctx)

    def profile_capture(self, artifact: Path, feed: dict[str, Any], *, iters: int, warmup: int,
                        threads: int | None = None) -> dict[str, Any]:
        from .profile import capture

        return capture(artifact, feed, iters=iters, warmup=warmup, threads=threads)

    def profile_records(self, raw: dict[str, Any], names: Any) -> list[Any]:
        from .profile import records

        return records(raw, names)

    def files_built(self, profile: Profile) -> int:
        return int(profile.precision.value == "int8")

    def pays_here(self, profile: Profile, support: dict[str, bool]) -> tuple[bool | None, str]:
        from ...precision import int8_pays

        if profile.precision.value == "int8":
            return int8_pays(support)
        return None, "f32"

    def file_precision(self, path: Path) -> str:
        """int8 when the graph holds quantize nodes, else fp32."""
        if not ONNX.installed():
            return "unknown"
        import onnx

        ops = {n.op_type for n in onnx.load(str(path), load_external_data=False).graph.node}
        return "int8" if ops & {"QuantizeLinear", "QLinearConv", "QLinearMatMul"} else "fp32"


PLUGIN = register(OnnxRuntimePlugin())
