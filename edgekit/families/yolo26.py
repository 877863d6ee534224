"""The YOLO family: Ultralytics ``Detect`` heads (YOLO26, YOLO11, YOLO12, YOLOv8) and
``v10Detect`` (YOLOv10), exported end-to-end (one-to-one, NMS-free) or one-to-many."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .base import Decoded, FamilySpec, OutputFormat, register


def _decode_end2end(x: np.ndarray, imgsz: int, conf: float, iou: float, max_det: int,
                    agnostic: bool) -> Decoded:
    return x[:, :4], x[:, 4], x[:, 5]


#: a class offset larger than any input, so that class-aware NMS never merges two classes
_CLASS_OFFSET = 7680.0


def _decode_raw(x: np.ndarray, imgsz: int, conf: float, iou: float, max_det: int,
                agnostic: bool) -> Decoded:
    from ..boxes import nms, xywh2xyxy

    p = x.T  # (anchors, 4 + nc)
    cls_scores = p[:, 4:]
    cls = cls_scores.argmax(1)
    scores = cls_scores[np.arange(len(p)), cls]
    k = scores > conf
    boxes, scores, cls = xywh2xyxy(p[k, :4]), scores[k], cls[k]
    offset = 0 if agnostic else cls.astype(np.float32)[:, None] * _CLASS_OFFSET
    keep = nms(boxes + offset, scores, iou)[:max_det]
    return boxes[keep], scores[keep], cls[keep]


END2END = OutputFormat(
    "yolo_end2end",
    "(N, 300, 6): x1, y1, x2, y2 in input pixels, score, class index; NMS-free",
    _decode_end2end, ultralytics_end2end=True)
RAW = OutputFormat(
    "yolo_raw",
    "(N, 4 + nc, anchors): cx, cy, w, h in input pixels, then class scores; needs NMS",
    _decode_raw, needs_nms=True)


@dataclass(frozen=True, eq=False)
class YoloFamily(FamilySpec):
    name: str = "yolo"
    description: str = "Ultralytics YOLO Detect heads (YOLO26, YOLO11, YOLO12, YOLOv8, YOLOv10)"
    head_classes: tuple[str, ...] = ("Detect", "v10Detect")
    export_heads: tuple[str, ...] = ("Detect",)
    resize: str = "letterbox"
    formats: tuple[OutputFormat, ...] = (END2END, RAW)

    def output_format(self, head: Any) -> OutputFormat:
        return END2END if getattr(head, "end2end", False) else RAW

    def choose_head(self, head: Any, src: Any, end2end: bool | None,
                    notes: list[str]) -> dict[str, Any]:
        """Export the one-to-one head (NMS-free) or the one-to-many one, and say why: the
        checkpoint's own mode unless overridden; a warning goes into ``notes`` when an
        override contradicts the checkpoint."""
        has_one2one = getattr(head, "one2one_cv2", None) is not None
        saved = bool(getattr(head, "end2end", False)) if src.kind == "checkpoint" else None
        if end2end is None:
            want = saved if saved is not None else True
            why = ("the checkpoint's own mode" if saved is not None
                   else "edgekit's default for YAML-built models")
        else:
            want, why = end2end, "--end2end" if end2end else "--no-end2end"
            if end2end and saved is False and has_one2one:
                notes.append("--end2end forces the one-to-one head on a checkpoint saved in "
                             "one-to-many mode; Ultralytics' val and export use its "
                             "one-to-many head, and the two can score differently (check "
                             "with edgekit eval)")
        if want and not has_one2one:
            notes.append("this YOLO head has no end-to-end branch: exporting the one-to-many "
                         "form, which needs NMS")
            want, why = False, "the head has no one-to-one branch"
        head.end2end = want
        mode = {True: "one2one", False: "one2many", None: None}
        return {"exported": mode[want], "reason": why, "checkpoint_mode": mode[saved]}


YOLO = register(YoloFamily())
