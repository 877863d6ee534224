"""COCO mAP (101-point interpolated precision, IoU 0.50:0.95, up to 100 detections per
image, all areas) overall and per class, computed by faster-coco-eval (the C++ port of
pycocotools that Ultralytics itself uses for COCO JSON evaluation)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ._lazy import require


def coco_map(gt: list[tuple[tuple[int, int], np.ndarray, np.ndarray]],
             preds: list[tuple[np.ndarray, np.ndarray, np.ndarray]],
             names: dict[int, str]) -> dict[str, Any]:
    """``gt[i] = ((h, w), classes, xyxy boxes)`` in pixels; ``preds[i] = (xyxy, scores,
    classes)``. Returns ``map50_95`` and ``map50`` (fractions; None when the split has no
    objects) and ``per_class``."""
    fce = require("faster_coco_eval", extra="eval", purpose="mAP")
    images: list[dict[str, Any]] = []
    anns: list[dict[str, Any]] = []
    dets: list[dict[str, Any]] = []
    for i, ((h, w), cls, boxes) in enumerate(gt):
        images.append({"id": i, "width": int(w), "height": int(h)})
        for c, b in zip(cls, boxes):
            bw, bh = float(b[2] - b[0]), float(b[3] - b[1])
            anns.append({"id": len(anns) + 1, "image_id": i, "category_id": int(c),
                         "bbox": [float(b[0]), float(b[1]), bw, bh], "area": bw * bh,
                         "iscrowd": 0})
    for i, (boxes, scores, cls) in enumerate(preds):
        for b, s, c in zip(boxes, scores, cls):
            if int(c) in names:
                dets.append({"image_id": i, "category_id": int(c), "score": float(s),
                             "bbox": [float(b[0]), float(b[1]), float(b[2] - b[0]),
                                      float(b[3] - b[1])]})
    counts = {c: 0 for c in names}
    for a in anns:
        counts[a["category_id"]] += 1
    per_class: dict[str, dict[str, Any]] = {
        names[c]: {"instances": counts[c], "map50_95": None, "map50": None} for c in names}
    result: dict[str, Any] = {"map50_95": None, "map50": None, "per_class": per_class}
    if not anns:
        return result
    if not dets:
        result.update(map50_95=0.0, map50=0.0)
        for c in names:
            if counts[c]:
                per_class[names[c]].update(map50_95=0.0, map50=0.0)
        return result
    coco_gt = fce.COCO()
    coco_gt.dataset = {"images": images, "annotations": anns,
                       "categories": [{"id": c, "name": n} for c, n in names.items()]}
    coco_gt.createIndex()
    coco_dt = coco_gt.loadRes(dets)
    ev = fce.COCOeval_faster(coco_gt, coco_dt, "bbox", print_function=lambda *a, **k: None)
    ev.evaluate()
    ev.accumulate()
    ev.summarize()
    result.update(map50_95=float(ev.stats[0]), map50=float(ev.stats[1]))
    # precision: [IoU thresholds, recall points, classes, area ranges, max dets]
    prec = ev.eval["precision"]
    for k, c in enumerate(ev.params.catIds):
        p = prec[:, :, k, 0, -1]
        if counts.get(c):
            valid = p[p > -1]
            p50 = p[0][p[0] > -1]
            per_class[names[c]].update(map50_95=float(valid.mean()) if valid.size else 0.0,
                                       map50=float(p50.mean()) if p50.size else 0.0)
    return result
