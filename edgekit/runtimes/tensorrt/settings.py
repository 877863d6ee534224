"""What a TensorRT build is, without TensorRT: settings from a profile, the ONNX each path
builds from, the bundle's file names and the engine compatibility check."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ...errors import IntegrityError, UsageError

if TYPE_CHECKING:
    from ...profiles.schema import Profile

INPUT = "images"
ENGINE = "tensorrt/model.engine"
#: explicit quantization (both majors): symmetric int8 Q/DQ, float scope left out
QDQ_ONNX = "tensorrt/model.qdq.onnx"
#: TensorRT 11 fp16: a mixed-precision ONNX, fp32 islands kept by Cast nodes
FP16_ONNX = "tensorrt/model.fp16.onnx"
#: TensorRT 10 implicit INT8: the calibration cache the deployed engine was built with
CALIB_CACHE = "tensorrt/model.calib"

#: how each TensorRT major builds (recorded in the manifest)
PATHS = {
    10: "weakly typed: builder precision flags, fp32 pins by layer (OBEY), INT8 by Q/DQ or "
        "a calibrator",
    11: "strongly typed: precision from the graph (Q/DQ for INT8, a mixed-precision ONNX with "
        "Cast islands for fp16)",
}


@dataclass(frozen=True)
class TrtBuildSettings:
    precision: str  # fp32 | fp16 | int8
    workspace_bytes: int
    imgsz: int
    batch_min: int
    batch_opt: int
    batch_max: int
    dynamic: bool
    optimization_level: int
    timing_cache: bool
    #: tensor names to mark as extra outputs (parity engines only)
    mark_outputs: tuple[str, ...] = ()
    #: ONNX node names whose TensorRT layers are pinned to fp32 (fp16 and int8 builds)
    fp32_layers: tuple[str, ...] = ()
    #: TensorRT layer types pinned to fp32 (``trt.LayerType`` member names)
    fp32_layer_types: tuple[str, ...] = ()
    #: INT8: "qdq" (explicit quantization from a Q/DQ ONNX) or "calibrator" (implicit, 10 only)
    int8_mode: str = "qdq"
    #: the TensorRT major the build is for (10: weakly typed, 11: strongly typed)
    trt_major: int = 10
    #: of ``fp32_layers``, the nodes whose outputs are all float and may be typed (trtexec's
    #: --layerOutputTypes: no TopK index output, no int or shape tensors)
    fp32_output_layers: tuple[str, ...] = ()
    #: what the engine's float layers (outside INT8 and the fp32 pins) compute in: the
    #: profile's precision policy as this major can build it (:func:`float_policy_for`)
    float_precision: str = "f32"

    @property
    def float_fp16(self) -> bool:
        """TensorRT 10's FP16 builder flag: the float layers may run in fp16."""
        return self.precision == "fp16" or self.float_precision == "fp16"

    def shape(self, batch: int) -> tuple[int, int, int, int]:
        return (batch, 3, self.imgsz, self.imgsz)

    @property
    def strongly_typed(self) -> bool:
        return self.trt_major >= 11


def major_of(version: str) -> int:
    try:
        return int(str(version).split(".")[0])
    except ValueError as exc:
        raise UsageError(f"unreadable TensorRT version '{version}'") from exc


def hotspot_layer_types(profile: Profile) -> tuple[str, ...]:
    """The TensorRT layer types of the profile's float-scope hotspots (edgekit/scope.py):
    what an fp16 or int8 engine pins to fp32 by type. The rest of the float scope (whole
    attention sites in an INT8 build, say) is left out of INT8 and runs at the engine's
    float precision."""
    from ...scope import ITEMS, FloatScope

    hot = FloatScope.of(profile.calibration).hotspots()
    return tuple(t for i in hot.items for t in ITEMS[i].tensorrt_layers)


def float_policy_for(profile: Profile, major: int) -> tuple[str, str | None]:
    """The precision an engine's float layers compute in, from the profile's policy
    (edgekit/precision.py), and why it differs from what was asked, if it does.

    An fp16 build computes in fp16. An INT8 build's float parts follow the policy on
    TensorRT 10 (the FP16 builder flag, or not); TensorRT 11 takes precision from the graph,
    and the Q/DQ ONNX is f32 outside INT8, so they compute in f32 there. bf16 and auto are
    not TensorRT float policies here: f32."""
    asked = profile.float_policy
    if profile.precision.value == "fp16":
        return "fp16", None
    if profile.precision.value != "int8":
        return "f32", None
    if major >= 11:
        return "f32", (None if asked == "f32" else
                       f"TensorRT {major} builds an INT8 engine's float parts from the Q/DQ "
                       f"ONNX's own type (f32), not at float_precision {asked}")
    if asked in ("fp16", "f32"):
        return asked, None
    return "f32", f"float_precision {asked} is not a TensorRT policy: the float parts run f32"


def settings_from_profile(profile: Profile, *, major: int = 10, mark_outputs: list[str] | None = None,
                          fp32_layers: list[str] | None = None,
                          fp32_output_layers: list[str] | None = None) -> TrtBuildSettings:
    b = profile.batch
    if b.dynamic:
        bmin, bopt, bmax = b.min, (b.opt or b.size), b.max
    else:
        bmin = bopt = bmax = b.size
    s = TrtBuildSettings(
        precision=profile.precision.value,
        workspace_bytes=int(profile.runtime.trt_workspace_gb * (1 << 30)),
        imgsz=profile.imgsz,
        batch_min=bmin, batch_opt=bopt, batch_max=bmax,
        dynamic=b.dynamic,
        optimization_level=profile.runtime.trt_builder_optimization_level,
        timing_cache=profile.runtime.trt_timing_cache,
        mark_outputs=tuple(mark_outputs or ()),
        fp32_layers=tuple(fp32_layers or ()),
        fp32_layer_types=hotspot_layer_types(profile),
        int8_mode=profile.runtime.trt_int8,
        trt_major=major,
        float_precision=float_policy_for(profile, major)[0],
        fp32_output_layers=tuple((fp32_layers if fp32_output_layers is None
                                  else fp32_output_layers) or ()),
    )
    check_settings(s)
    return s


def check_settings(s: TrtBuildSettings) -> None:
    if s.strongly_typed and s.precision == "int8" and s.int8_mode == "calibrator":
        raise UsageError("TensorRT 11 has no INT8 calibrators (implicit quantization was "
                         "removed): set runtime.trt_int8: qdq")


def settings_from_dict(d: dict[str, Any], **over: Any) -> TrtBuildSettings:
    """Settings as recorded in a manifest (lists back to tuples)."""
    known = TrtBuildSettings.__dataclass_fields__
    kw: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in d.items()
                          if k in known}
    if "float_precision" not in kw:  # recorded before the policy: fp16 beside INT8 on 10
        kw["float_precision"] = "fp16" if kw.get("precision") in ("fp16", "int8") \
            and int(kw.get("trt_major", 10)) < 11 else "f32"
    return TrtBuildSettings(**{**kw, **over})


def source_onnx(settings: TrtBuildSettings) -> str:
    """The ONNX an engine is built from, relative to the bundle."""
    if settings.precision == "int8" and settings.int8_mode == "qdq":
        return QDQ_ONNX
    if settings.precision == "fp16" and settings.strongly_typed:
        return FP16_ONNX
    return "model.onnx"


def timing_cache_name(info: dict[str, Any]) -> str:
    """A timing cache is valid for one TensorRT version on one GPU: the name says which, so
    a cache carried in from another machine is never picked up under this one's name."""
    v = str(info.get("tensorrt") or "unknown")
    cc = str(info.get("compute_capability") or "unknown").replace(".", "")
    return f"tensorrt/timing-trt{v}-sm{cc}.cache"


def check_engine_compat(recorded: dict[str, Any], running: dict[str, Any]) -> None:
    """Engines are tied to one TensorRT version and GPU: refuse a mismatch plainly."""
    want_v, have_v = recorded.get("tensorrt"), running.get("tensorrt")
    want_cc, have_cc = recorded.get("compute_capability"), running.get("compute_capability")
    problems = []
    if want_v and have_v and str(want_v) != str(have_v):
        problems.append(f"built with TensorRT {want_v}, running {have_v}")
    if want_cc and have_cc and str(want_cc) != str(have_cc):
        problems.append(f"built for compute capability {want_cc}, this GPU is {have_cc}")
    if problems:
        raise IntegrityError("the TensorRT engine does not match this machine ("
                             + "; ".join(problems) + "): rebuild it here with "
                             "`edgekit export BUNDLE_DIR --profile PROFILE`")
