"""Decoding of the exported detector outputs, NMS, and detection-aware comparison.

Output conventions (recorded in each bundle's manifest as ``output.format``) are the
output formats of the registered model families (:mod:`edgekit.families`: ``yolo_end2end``
and ``yolo_raw`` in ``yolo26``, ``rtdetr`` in ``rtdetr``), each with its layout and decoder.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..boxes import box_iou, match_iou, nms, xywh2xyxy
from ..families import get_format

__all__ = ["Detections", "box_iou", "decode", "match", "match_iou", "nms", "xywh2xyxy"]


@dataclass(frozen=True)
class Detections:
    boxes: np.ndarray  # (n, 4) xyxy in input pixels
    scores: np.ndarray  # (n,)
    classes: np.ndarray  # (n,) int

    def __len__(self) -> int:
        return len(self.scores)

    def above(self, conf: float) -> Detections:
        k = self.scores >= conf
        return Detections(self.boxes[k], self.scores[k], self.classes[k])


def decode(output: np.ndarray, fmt: str, imgsz: int, *, conf: float = 0.25, iou: float = 0.7,
           max_det: int = 300, agnostic: bool = False) -> list[Detections]:
    """One Detections per image, boxes in input pixels (not clipped), scores > conf."""
    decoder = get_format(fmt).decode  # ValueError for an unknown format
    out = np.asarray(output, dtype=np.float32)
    dets: list[Detections] = []
    for x in out:
        boxes, scores, cls = decoder(x, imgsz, conf, iou, max_det, agnostic)
        k = scores > conf  # strictly above, as Ultralytics' predictors keep them
        order = np.argsort(-scores[k], kind="stable")
        dets.append(Detections(boxes[k][order].astype(np.float32), scores[k][order].astype(np.float32),
                               cls[k][order].astype(np.int64)))
    return dets


@dataclass
class DetectionMatch:
    matched: int
    missing: int  # in the reference, not found in the runtime's output
    extra: int  # in the runtime's output, not in the reference
    max_box_shift_px: float
    max_score_diff: float
    min_iou: float
    undecided: int = 0  # in the reference, inside the don't-care band, not found either

    def to_dict(self) -> dict[str, float]:
        return dict(self.__dict__)


def match(ref: Detections, out: Detections, *, iou_thr: float = 0.5,
          conf: float = 0.25, margin: float = 0.02) -> DetectionMatch:
    """Match detections per class by IoU, greedily by reference score.

    Detections whose score is within ``margin`` of the threshold may fall on either side
    on another runtime: such a borderline detection is not counted as missing or extra; an
    unfound one is ``undecided`` (it neither passes nor fails the comparison).
    """
    used = np.zeros(len(out), dtype=bool)
    shift, sdiff, min_iou = 0.0, 0.0, 1.0
    matched = missing = undecided = 0
    ious = match_iou(ref.boxes, out.boxes)
    for i in np.argsort(-ref.scores, kind="stable"):
        cand = np.where((out.classes == ref.classes[i]) & ~used)[0]
        j = cand[np.argmax(ious[i, cand])] if cand.size else -1
        if j >= 0 and ious[i, j] >= iou_thr:
            used[j] = True
            matched += 1
            shift = max(shift, float(np.abs(ref.boxes[i] - out.boxes[j]).max()))
            sdiff = max(sdiff, float(abs(ref.scores[i] - out.scores[j])))
            min_iou = min(min_iou, float(ious[i, j]))
        elif ref.scores[i] >= conf + margin:
            missing += 1
        else:
            undecided += 1
    extra = int(((~used) & (out.scores >= conf + margin)).sum())
    return DetectionMatch(matched, missing, extra, shift, sdiff, min_iou if matched else 0.0,
                          undecided)
