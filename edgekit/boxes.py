"""Box arithmetic on numpy arrays: conversions, IoU, NMS. A leaf: the model families'
decoders and parity's detection matching both use it."""

from __future__ import annotations

import numpy as np


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
