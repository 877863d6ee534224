"""Ultralytics' own ``val`` on a checkpoint, run in a child process by test_eval (it changes
global torch state). Prints JSON: Ultralytics' mAP, and the COCO mAP that edgekit's metric
gives on Ultralytics' own predictions (so that metric and predictions can be told apart).

NMS mode ``single``: Ultralytics' default val, but one class per box, as its predictor (and
edgekit's decoding) keep them; its validator's NMS is otherwise multi-label."""

import json
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np
from ultralytics import RTDETR, YOLO

from edgekit.coco import coco_map
from edgekit.eval.data import load_dataset
from edgekit.parity.detections import xywh2xyxy

ckpt, data, imgsz, nms = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
if nms == "single":  # the validator's NMS with multi_label off, nothing else changed
    from ultralytics.utils import nms as _nms

    _orig = _nms.non_max_suppression
    _nms.non_max_suppression = lambda *a, **k: _orig(*a, **{**k, "multi_label": False})
model = (RTDETR if "rtdetr" in Path(ckpt).name else YOLO)(ckpt)
with tempfile.TemporaryDirectory() as tmp:
    r = model.val(data=data, imgsz=imgsz, batch=16, conf=0.001, iou=0.7, device="cpu",
                  plots=False, save_json=True, rect=False, verbose=False,
                  nms={"default": None, "single": None, "false": False, "true": True}[nms],
                  project=tmp, name="val", exist_ok=True)
    preds = json.loads((Path(tmp) / "val" / "predictions.json").read_text())
ds = load_dataset(data)
gt, mine, per_image = [], [], {}
for s in ds.samples:
    h, w = cv2.imread(str(s.image)).shape[:2]
    gt.append(((h, w), s.classes, xywh2xyxy(s.boxes * np.array([w, h, w, h]))))
    p = [x for x in preds if str(x["image_id"]) == s.image.stem]
    xyxy = np.array([x["bbox"] for x in p], dtype=np.float64).reshape(-1, 4)
    xyxy[:, 2:] += xyxy[:, :2]
    # Ultralytics writes 1-based category ids for datasets other than COCO
    mine.append((xyxy, np.array([x["score"] for x in p]), np.array([x["category_id"] - 1 for x in p])))
    per_image[s.image.name] = {"boxes": xyxy.tolist(), "scores": mine[-1][1].tolist(),
                               "classes": [int(c) for c in mine[-1][2]]}
coco = coco_map(gt, mine, ds.names)
print(json.dumps({"map50_95": r.box.map, "map50": r.box.map50,
                  "coco_on_ultralytics_preds": {"map50_95": coco["map50_95"], "map50": coco["map50"]},
                  "per_image": per_image}))
