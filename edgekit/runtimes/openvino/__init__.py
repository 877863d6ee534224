"""OpenVINO (CPU plug-in): an IR converted from the bundle's ``model.onnx`` (so tensor names
line up for parity), carrying the profile's float-precision policy; INT8 by NNCF
post-training quantization (transformer mode) with the profile's float scope ignored."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..plugin import BuildContext, Built, Quantizer, Requirement, RuntimePlugin, register

if TYPE_CHECKING:
    from ...profiles.schema import Profile
    from ...scope import FloatScope

log = logging.getLogger(__name__)

OPENVINO = Requirement("openvino", "openvino", "OpenVINO")
NNCF = Requirement("nncf", "openvino", "NNCF")
#: the IR in a bundle
IR = "openvino/model.xml"


class _OvQuantizer(Quantizer):
    """Converts the ONNX once (``keep_tensors`` addressable), then quantizes a copy per
    scope."""

    def __init__(self, ctx: BuildContext, keep_tensors: Sequence[str]) -> None:
        from ...graph import tap_tensors
        from .convert import convert

        self.ctx = ctx
        keep = tap_tensors(ctx.taps) + [t for t in keep_tensors
                                        if t not in tap_tensors(ctx.taps)]
        self.model = convert(ctx.onnx, keep_tensors=keep)

    def float_build(self, root: Path, policy: str | None = None) -> Built:
        from .convert import save

        policy = policy or self.ctx.profile.float_policy
        marks = save(self.model.clone(), root / IR, policy=policy)
        return Built({"precision": "fp32", "converted_from": "model.onnx",
                      "float_precision": marks}, IR)

    def int8_build(self, root: Path, scope: FloatScope, policy: str | None = None) -> Built:
        from .convert import ov_names_for, quantize_int8, save

        ctx = self.ctx
        cal = ctx.profile.calibration
        sel = ctx.select(scope)
        model = self.model.clone()
        names = ov_names_for(model, list(sel.nodes), list(sel.tensors))
        calib = ctx.calibration()
        log.info(f"openvino int8: NNCF (transformer, {cal.preset}) on {len(calib)} images, "
                 f"keeping {len(names)} ops in float ({', '.join(scope.labels()) or 'nothing'})")
        q = quantize_int8(model, calib, ignored_names=names,
                          ignored_types=list(sel.openvino_types), preset=cal.preset)
        marks = save(q, root / IR, policy=policy or ctx.profile.float_policy)
        fq = sum(1 for op in q.get_ops() if op.get_type_name() == "FakeQuantize")
        return Built({"precision": "int8", "converted_from": "model.onnx",
                      "nncf": {"model_type": "transformer", "preset": cal.preset,
                               "subset_size": len(calib), **scope.as_calibration(),
                               "ignored_ops": len(names),
                               "ignored_types": list(sel.openvino_types),
                               "fake_quantize_ops": fq},
                      "float_precision": marks}, IR)


class OpenVinoPlugin(RuntimePlugin):
    name = "openvino"
    description = "OpenVINO, CPU plug-in (NNCF for INT8)"
    requires = (OPENVINO,)
    int8_requires = (NNCF,)
    runner_class = "edgekit.runtimes.openvino.runner:OpenVinoRunner"
    suffixes = (".xml",)
    loads_onnx = True
    quantizes = True
    throughput = True
    float_precisions = ("f32", "bf16", "fp16")
    profiles = True

    def build(self, ctx: BuildContext) -> Built:
        from .precision import plain_client_precisions

        t0 = time.perf_counter()
        prec, policy = ctx.profile.precision.value, ctx.profile.float_policy
        if prec == "int8":
            built = _OvQuantizer(ctx, ()).int8_build(ctx.root, _profile_scope(ctx))
            info = dict(built.section)
        else:
            from ...graph import tap_tensors
            from .convert import convert, save

            model = convert(ctx.onnx, keep_tensors=tap_tensors(ctx.taps))
            marks = save(model, ctx.root / IR, fp16=prec == "fp16", policy=policy)
            log.info(f"openvino: IR ({prec}, float parts at {policy}) converted from model.onnx")
            info = {"precision": prec, "converted_from": "model.onnx", "float_precision": marks}
        # what a plain client (compile_model, no config; benchmark_app) runs the IR at, here
        plain = plain_client_precisions(ctx.root / IR)
        info["plain_client"] = {**plain, "reduced": len(plain["reduced"]),
                                "reduced_examples": plain["reduced"][:5]}
        if policy == "f32" and plain["reduced"]:
            log.info(f"openvino: {len(plain['reduced'])} float ops still run at reduced "
                     f"precision under a plain compile_model here ({plain['default_hint']} "
                     f"default), e.g. {plain['reduced'][0]}; edgekit's runners pin f32")
        return Built(info, IR, {"openvino": round(time.perf_counter() - t0, 2)})

    def quantizer(self, ctx: BuildContext, keep_tensors: Sequence[str] = ()) -> Quantizer:
        return _OvQuantizer(ctx, keep_tensors)

    def files_built(self, profile: Profile) -> int:
        return 1

    def pays_here(self, profile: Profile, support: dict[str, bool]) -> tuple[bool | None, str]:
        from ...precision import int8_pays

        if profile.precision.value == "int8":
            pays, why = int8_pays(support)
            # beside bf16, INT8's lead is small or none (yolo26n at 640: 1.16x bf16 on an
            # AVX512_BF16 EPYC, 0.82x on an AMX Xeon): measure it
            return pays, (f"{why}; bf16 may match it: tune" if pays and support["bf16"] else why)
        if profile.float_policy == "bf16":
            return ((True, "AMX" if support["amx"] else "AVX512_BF16") if support["bf16"]
                    else (False, "no AVX512_BF16 or AMX: OpenVINO runs f32"))
        return None, "f32"

    def float_report(self, artifact: Path) -> dict[str, Any] | None:
        from .precision import plain_client_precisions

        return plain_client_precisions(artifact)

    def profile_capture(self, artifact: Path, feed: dict[str, Any], *, iters: int, warmup: int,
                        threads: int | None = None) -> dict[str, Any]:
        from .profile import capture

        return capture(artifact, feed, iters=iters, warmup=warmup, threads=threads)

    def profile_records(self, raw: dict[str, Any], names: Any) -> list[Any]:
        from .profile import records

        return records(raw, names)

    def file_precision(self, path: Path) -> str:
        """int8 when the IR holds FakeQuantize ops, else fp32."""
        return "int8" if 'type="FakeQuantize"' in path.read_text(errors="replace") else "fp32"


def _profile_scope(ctx: BuildContext) -> Any:
    from ...scope import FloatScope

    return FloatScope.of(ctx.profile.calibration)


PLUGIN = register(OpenVinoPlugin())
