"""The RT-DETR family: Ultralytics ``RTDETRDecoder`` heads (rtdetr-l/x, ResNet backbones,
yolov8-rtdetr): stretched input, GridSample deformable attention, a query-ordered decoder."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .base import ULTRALYTICS_SITES, Decoded, FamilySpec, FragileOp, OutputFormat, register


def _decode(x: np.ndarray, imgsz: int, conf: float, iou: float, max_det: int,
            agnostic: bool) -> Decoded:
    from ..boxes import xywh2xyxy

    return xywh2xyxy(x[:, :4]) * imgsz, x[:, 4], x[:, 5]


#: NMS-free; Ultralytics' RT-DETR predictor scales the normalised boxes and does not clip
RTDETR_FORMAT = OutputFormat(
    "rtdetr",
    "(N, 300, 6): cx, cy, w, h normalised to [0, 1] of the input, score, class index",
    _decode, clip_boxes=False)


@dataclass(frozen=True, eq=False)
class RTDETRFamily(FamilySpec):
    name: str = "rtdetr"
    description: str = "Ultralytics RT-DETR (RTDETRDecoder heads)"
    head_classes: tuple[str, ...] = ("RTDETRDecoder",)
    head_subclasses: bool = True
    task_model: str = "RTDETRDetectionModel"
    trainer: str = "RTDETR"
    export_heads: tuple[str, ...] = ("RTDETRDecoder",)
    resize: str = "stretch"  # as Ultralytics' RT-DETR predictor feeds it
    opset_floor: int = 16
    opset_floor_reason: str = "GridSample"
    dynamo_static_head: bool = True
    fragile_ops: tuple[FragileOp, ...] = (FragileOp(
        "GridSample", 20, "GridSample at opset 20 has been seen to lose precision in "
                          "deformable attention; opset 17-19 is safer"),)
    formats: tuple[OutputFormat, ...] = (RTDETR_FORMAT,)
    # random weights: the decoder layers start as identical clones
    decorrelate_layers: str | None = "DeformableTransformerDecoderLayer"
    site_classes: dict[str, str] = field(
        default_factory=lambda: {**ULTRALYTICS_SITES, "MSDeformAttn": "deform_attn"})
    query_module: str | None = "DeformableTransformerDecoder"
    decoder_module: str | None = "decoder"

    def max_candidates(self, head: Any, imgsz: int, strides: list[int]) -> int:
        return int(head.num_queries)

    def num_queries(self, head: Any) -> int | None:
        return int(head.num_queries)


RTDETR = register(RTDETRFamily())
