"""One frame end to end, as bench and the scenarios time it: (decode a real image,)
preprocess, infer, postprocess. A callable, so a closed loop (bench) and an arrival process
(:mod:`edgekit.scenarios`) drive the same work."""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from ..models.preprocess import to_input
from ..parity.detections import decode

STAGES = ("decode", "preprocess", "inference", "postprocess")


def postprocess(output: np.ndarray, fmt: str, imgsz: int, lb: Any,
                conf: float) -> list[Any]:
    """Decode the runtime output (of the manifest's ``output.format``, at input size
    ``imgsz``) into detections in original-image pixels, as Ultralytics' predictor of the
    family does: YOLO boxes are clipped to the image, RT-DETR boxes are not (its predictor
    scales the normalised boxes and leaves them whole)."""
    dets = decode(output, fmt, imgsz, conf=conf)
    from ..families import get_format

    clip = get_format(fmt).clip_boxes
    return [type(d)(lb.to_original(d.boxes, clip=clip), d.scores, d.classes) for d in dets]


def decode_image(data: bytes) -> np.ndarray:
    """Encoded image bytes (JPEG, PNG) -> HWC uint8 BGR, with OpenCV, else Pillow."""
    try:
        import cv2
    except ImportError:
        import io

        from PIL import Image

        with Image.open(io.BytesIO(data)) as im:
            return np.asarray(im.convert("RGB"))[..., ::-1].copy()
    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if img is None:
        raise ValueError("the sample image cannot be decoded")
    return img


class EndToEnd:
    """Process one frame: ``image`` (decoded once) or ``encoded`` (the file's bytes, decoded
    on every call, as a camera's JPEG frames are). Each call records its stage times (ns)."""

    def __init__(self, runner: Any, imgsz: int, fmt: str, resize: str, conf: float, *,
                 image: np.ndarray | None = None, encoded: bytes | None = None) -> None:
        if (image is None) == (encoded is None):
            raise ValueError("give an image or its encoded bytes")
        self.runner, self.imgsz, self.fmt, self.resize, self.conf = (runner, imgsz, fmt,
                                                                     resize, conf)
        self.image, self.encoded = image, encoded
        self.stages: dict[str, list[int]] = {k: [] for k in STAGES
                                             if k != "decode" or encoded is not None}
        self.last: list[Any] = []

    def __call__(self, *_: Any) -> None:
        clock = time.perf_counter_ns
        t0 = clock()
        img = decode_image(self.encoded) if self.encoded is not None else self.image
        assert img is not None
        t1 = clock()
        x, lb = to_input(img, self.imgsz, self.resize)
        t2 = clock()
        y = self.runner.infer({"images": x})
        self.runner.synchronize()
        t3 = clock()
        self.last = postprocess(y[self.runner.output_names[0]], self.fmt, self.imgsz, lb,
                                self.conf)
        t4 = clock()
        if self.encoded is not None:
            self.stages["decode"].append(t1 - t0)
        self.stages["preprocess"].append(t2 - t1)
        self.stages["inference"].append(t3 - t2)
        self.stages["postprocess"].append(t4 - t3)

    def detections(self) -> int:
        return len(self.last[0]) if self.last else 0
