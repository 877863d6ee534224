"""Decoding of the exported detector outputs, NMS, and detection-aware comparison.

Output conventions (recorded in each bundle's manifest as ``output.format``) are the
output formats of the registered model families (:mod:`edgekit.families`: ``yolo_end2end``
and ``yolo_raw`` in ``yolo26``, ``rtdetr`` in ``rtdetr``), each with its layout and decoder.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..families import get_format


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


def xywh2xyxy(b: np.ndarray) -> np.ndarray:
    out = np.empty_like(b)
    out[..., 0] = b[..., 0] - b[..., 2] / 2
    out[..., 1] = b[..., 1] - b[..., 3] / 2
    out[..., 2] = b[..., 0] + b[..., 2] / 2
    out[..., 3] = b[..., 1] + b[..., 3] / 2
    return out


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU matrix between (n, 4) and (m, 4) xyxy boxes."""
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)))
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.clip(rb - lt, 0, None).prod(-1)
    area_a = np.clip(a[:, 2:] - a[:, :2], 0, None).prod(-1)
    area_b = np.clip(b[:, 2:] - b[:, :2], 0, None).prod(-1)
    return inter / np.maximum(area_a[:, None] + area_b[None, :] - inter, 1e-9)


def match_iou(a: np.ndarray, b: np.ndarray, same_px: float = 0.5) -> np.ndarray:
    """IoU for matching one runtime's detections to another's. Corners are ordered first
    (an untrained head can emit x2 < x1, which plain IoU scores 0 against itself), and
    boxes whose corners agree within ``same_px`` count as the same box even when they
    have no area."""
    def spanned(x: np.ndarray) -> np.ndarray:
        return np.concatenate([np.minimum(x[:, :2], x[:, 2:]), np.maximum(x[:, :2], x[:, 2:])], 1)

    iou = box_iou(spanned(a), spanned(b))
    if len(a) and len(b):
        same = np.abs(a[:, None, :] - b[None, :, :]).max(-1) <= same_px
        iou = np.where(same, np.maximum(iou, 1.0), iou)
    return iou


def nms(boxes: np.ndarray, scores: np.ndarray, iou: float) -> np.ndarray:
    order = np.argsort(-scores, kind="stable")
    keep: list[int] = []
    while order.size:
        i = order[0]
        keep.append(int(i))
        if order.size == 1:
            break
        ious = box_iou(boxes[i : i + 1], boxes[order[1:]])[0]
        order = order[1:][ious <= iou]
    return np.asarray(keep, dtype=np.int64)


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
