"""Ultralytics' own predictor on every image of a dataset split, in a child process (it
changes global torch state). Prints JSON: per image, the boxes (xyxy, original pixels),
scores and classes that ``model.predict`` returns, at val's settings (conf 0.001, up to 300
detections, one class per box), on the square letterbox a static exported model takes:
``rect=False`` (``model.predict`` defaults to ``rect=True`` for a ``.pt``, a minimal
stride-aligned rectangle, which is another input and so other predictions).

Mode ``false``: the NMS-free end-to-end head (``nms=False``); ``default``: the checkpoint's
own head, NMS in the predictor."""

import json
import sys
from pathlib import Path

from ultralytics import RTDETR, YOLO

from edgekit.eval.data import load_dataset

ckpt, data, imgsz, nms = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
model = (RTDETR if "rtdetr" in Path(ckpt).name else YOLO)(ckpt)
out = {}
for s in load_dataset(data).samples:
    r = model.predict(str(s.image), imgsz=imgsz, conf=0.001, iou=0.7, max_det=300, device="cpu",
                      verbose=False, rect=False, nms={"default": None, "false": False}[nms])[0]
    b = r.boxes
    out[s.image.name] = {"boxes": b.xyxy.tolist(), "scores": b.conf.tolist(),
                         "classes": [int(c) for c in b.cls.tolist()]}
print(json.dumps(out))
