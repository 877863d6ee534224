"""The known-bad environment table: combinations of a package version, a platform, a model
family and an op or precision that are publicly reported to give wrong boxes, no boxes, a
failed build or a slowdown. Data only; :mod:`.match` decides what matches.

Each entry names its public source. ``confirmed`` says whether the source was read (its
report matches the entry); an unconfirmed entry came from a summary and is worded as such.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Action = Literal["warn", "refuse", "workaround"]


@dataclass(frozen=True)
class KnownIssue:
    """One known-bad combination. A field left None does not narrow the match."""

    id: str
    #: the distribution whose installed version is checked, and the PEP 440 range that is bad
    package: str
    versions: str
    symptom: str
    source: str
    action: Action
    #: the runtime the profile must target (``tensorrt``, ``openvino``, ``onnxruntime``)
    runtime: str | None = None
    #: the runtime's device: ``CPU``, ``GPU`` (OpenVINO's GPU plugin, TensorRT), ``WebGPU``
    device: str | None = None
    #: a PEP 440 range on the host's JetPack version (only a Jetson has one)
    jetpack: str | None = None
    family: str | None = None
    op: str | None = None
    precision: str | None = None
    #: a PEP 440 range on the exported opset
    opset: str | None = None
    #: what edgekit does itself (action ``workaround``), and the opset cap it applies
    workaround: str = ""
    max_opset: int | None = None
    #: match also where ``package`` is not installed here: the engine is built elsewhere (a
    #: Jetson), so only a harmless workaround may be applied on that ground
    when_absent: bool = False
    confirmed: bool = True

    @property
    def platform(self) -> str:
        """Where it bites, in words."""
        parts = [p for p in (self.runtime, self.device) if p]
        if self.jetpack:
            parts.append(f"JetPack {self.jetpack}")
        return " ".join(parts) or "any"


TABLE: tuple[KnownIssue, ...] = (
    KnownIssue(
        "trt-deform-attn-miscompile", "tensorrt", ">=10.14,<11.2",
        "TensorRT miscompiles the GridSample-based deformable attention of DETR decoders: the "
        "engine builds and runs but gives far fewer or wrong boxes (10.13 is correct)",
        "https://github.com/NVIDIA/TensorRT/issues/4813", "refuse",
        runtime="tensorrt", family="rtdetr", op="GridSample"),
    KnownIssue(
        "trt-gridsample-opset20", "tensorrt", ">=10.13",
        "GridSample exported at opset 20 or later is parsed as nearest-neighbour sampling "
        "(opset 20 renamed 'bilinear' to 'linear'): large errors in deformable attention",
        "https://github.com/NVIDIA/TensorRT/issues/4646", "workaround",
        runtime="tensorrt", family="rtdetr", op="GridSample", opset=">=20",
        workaround="the opset is capped at 19 for this export", max_opset=19,
        when_absent=True),
    KnownIssue(
        "jetpack7-rtdetr-trt", "tensorrt", "<10.15",
        "RT-DETR TensorRT engines fail on JetPack 7 (CUDA 13, ARM) before TensorRT 10.15; "
        "Ultralytics forces 10.15 there",
        "https://github.com/ultralytics/ultralytics/pull/23499", "refuse",
        runtime="tensorrt", jetpack=">=7", family="rtdetr"),
    KnownIssue(
        "trt-10.2-excluded", "tensorrt", ">=10.1,<10.3",
        "TensorRT 10.1 and 10.2 are excluded by Ultralytics (10.2: the builder resource "
        "library fails to load)",
        "https://github.com/ultralytics/ultralytics/pull/24367", "warn", runtime="tensorrt"),
    KnownIssue(
        "yolo26-int8-trt10.3", "tensorrt", ">=10.3,<10.4",
        "YOLO26 INT8 engines fail to build on JetPack 6's TensorRT 10.3 (internal error "
        "checkLinks during calibration); Ultralytics upgrades to 10.7",
        "https://github.com/ultralytics/ultralytics/pull/24368", "refuse",
        runtime="tensorrt", family="yolo", precision="int8"),
    KnownIssue(
        "ort-1.23-gridsample-slow", "onnxruntime", ">=1.23,<1.24",
        "GridSample is 7-15% slower than in 1.22 (every mode): RT-DETR latency regresses",
        "https://github.com/microsoft/onnxruntime/issues/27155", "warn",
        runtime="onnxruntime", family="rtdetr", op="GridSample"),
    KnownIssue(
        "ort-webgpu-gridsample", "onnxruntime", "",
        "the WebGPU execution provider's GridSample gives wrong values in deformable "
        "attention decoders (RT-DETR family): far fewer, low-confidence boxes",
        "https://github.com/microsoft/onnxruntime/issues/32275", "refuse",
        runtime="onnxruntime", device="WebGPU", family="rtdetr", op="GridSample"),
    KnownIssue(
        "ov-gpu-rtdetrv2-empty", "openvino", "",
        "RT-DETRv2 gives no detections on OpenVINO's GPU plugin (CPU is correct); reported "
        "on 2024.6",
        "https://github.com/openvinotoolkit/openvino/issues/31009", "warn",
        runtime="openvino", device="GPU", family="rtdetr"),
    KnownIssue(
        "yolo26-int8-ov-head", "openvino", "",
        "YOLO26 INT8 on OpenVINO loses nearly all mAP when the head is quantized; edgekit's "
        "INT8 profiles keep the score path and TopK float (float_scope score_sigmoid, topk), "
        "check the mAP with edgekit eval",
        "https://github.com/ultralytics/ultralytics/issues/23987", "warn",
        runtime="openvino", family="yolo", precision="int8"),
    KnownIssue(
        "onnx-loading-cves", "onnx", "<1.21",
        "onnx before 1.21 has model-loading vulnerabilities (external-data attribute "
        "injection, symlink path traversal: CVE-2026-34445, CVE-2026-27489)",
        "https://nvd.nist.gov/vuln/detail/CVE-2026-34445", "warn", confirmed=False),
    KnownIssue(
        "torch-load-cve", "torch", "<2.10",
        "torch.load(weights_only=True) before 2.10 can corrupt memory on a crafted "
        "checkpoint (CVE-2026-24747): edgekit loads .pt checkpoints with it",
        "https://github.com/pytorch/pytorch/security/advisories/GHSA-63cw-57p8-fm3p", "warn"),
)
