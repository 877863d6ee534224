"""A procedural, seeded detection dataset written as a standard Ultralytics YOLO dataset.

Each image is a crop of one of the real photographs that ship with ultralytics
(``bus.jpg``, ``zidane.jpg``; smooth noise when they are absent), with textured shapes of
five classes drawn on it: boxes of varied sizes and aspect ratios, later shapes partly
hiding earlier ones (each stays at least half visible, and its label is the box of its
visible pixels). Image ``i`` of a split depends only on ``(seed, split, i)``, so the same
spec gives byte-identical files on the same machine (same OpenCV build).

Layout: ``data.yaml``, ``images/{train,val}/*.jpg``, ``labels/{train,val}/*.txt``
(``class cx cy w h``, normalised), and ``synth.json`` recording the spec.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

#: bump when the drawing code changes what a spec produces
GENERATOR_VERSION = 1
CLASSES = ("ellipse", "rectangle", "triangle", "cross", "star")
#: image sizes (width, height) drawn from, so letterboxing and rect batching are exercised
SIZES = ((320, 240), (240, 320), (288, 288), (352, 224))
SPLITS = ("train", "val")
MIN_VISIBLE = 0.5


@dataclass(frozen=True)
class SynthSpec:
    n_train: int = 160
    n_val: int = 48
    seed: int = 0
    sizes: tuple[tuple[int, int], ...] = SIZES
    min_objects: int = 1
    max_objects: int = 6
    min_frac: float = 0.10  # object side relative to the image's shorter side
    max_frac: float = 0.50
    classes: tuple[str, ...] = field(default=CLASSES)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["sizes"] = [list(s) for s in self.sizes]
        d["classes"] = list(self.classes)
        d["generator_version"] = GENERATOR_VERSION
        return d


def _cv2() -> Any:
    from .._lazy import require

    return require("cv2", extra="e2e", purpose="drawing the synthetic dataset")


def _backgrounds() -> list[np.ndarray]:
    from ..models.preprocess import read_image, sample_images

    return [read_image(p) for p in sample_images()]


def _background(rng: np.random.Generator, bases: list[np.ndarray], w: int, h: int) -> np.ndarray:
    cv2 = _cv2()
    if not bases:  # no ultralytics assets: smooth coloured noise
        low = rng.integers(0, 256, (max(h // 32, 2), max(w // 32, 2), 3), dtype=np.uint8)
        return cv2.resize(low, (w, h), interpolation=cv2.INTER_CUBIC)
    base = bases[int(rng.integers(len(bases)))]
    bh, bw = base.shape[:2]
    scale = rng.uniform(0.3, 1.0)
    ch = max(int(min(bh, bw * h / w) * scale), 16)
    cw = max(min(int(ch * w / h), bw), 16)
    y0, x0 = int(rng.integers(0, bh - ch + 1)), int(rng.integers(0, bw - cw + 1))
    crop = cv2.resize(base[y0:y0 + ch, x0:x0 + cw], (w, h), interpolation=cv2.INTER_LINEAR)
    if rng.random() < 0.5:
        crop = crop[:, ::-1]
    gain = rng.uniform(0.6, 1.3)
    return np.clip(crop.astype(np.float32) * gain, 0, 255).astype(np.uint8)


def _texture(rng: np.random.Generator, w: int, h: int) -> np.ndarray:
    """A full-image fill: solid, stripes, checker or blotchy noise, in random colours."""
    c1 = rng.integers(0, 256, 3).astype(np.float32)
    c2 = rng.integers(0, 256, 3).astype(np.float32)
    kind = int(rng.integers(4))
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    if kind == 0:
        t = np.zeros((h, w), np.float32)
    elif kind == 1:
        ang, period = rng.uniform(0, np.pi), rng.uniform(4, 14)
        t = (np.sin((xx * np.cos(ang) + yy * np.sin(ang)) * 2 * np.pi / period) > 0).astype(np.float32)
    elif kind == 2:
        cell = int(rng.integers(3, 10))
        t = (((xx // cell) + (yy // cell)) % 2).astype(np.float32)
    else:
        t = rng.random((h, w), dtype=np.float32)
    return (c1 * (1 - t[..., None]) + c2 * t[..., None]).astype(np.uint8)


def _shape_mask(cv2: Any, cls: int, w: int, h: int, box: tuple[int, int, int, int]) -> np.ndarray:
    x0, y0, x1, y1 = box
    m = np.zeros((h, w), np.uint8)
    bw, bh = x1 - x0, y1 - y0
    name = CLASSES[cls]
    if name == "ellipse":
        cv2.ellipse(m, ((x0 + x1) // 2, (y0 + y1) // 2), (bw // 2, bh // 2), 0, 0, 360, 255, -1)
    elif name == "rectangle":
        cv2.rectangle(m, (x0, y0), (x1, y1), 255, -1)
    elif name == "triangle":
        pts = np.array([[x0, y1], [x1, y1], [x0 + bw // 2, y0]], np.int32)
        cv2.fillPoly(m, [pts], 255)
    elif name == "cross":
        tx, ty = max(bw // 3, 1), max(bh // 3, 1)
        cv2.rectangle(m, (x0, y0 + ty), (x1, y1 - ty), 255, -1)
        cv2.rectangle(m, (x0 + tx, y0), (x1 - tx, y1), 255, -1)
    else:  # star: five points, inner radius 0.45
        a = np.arange(10) * np.pi / 5 - np.pi / 2
        r = np.where(np.arange(10) % 2 == 0, 1.0, 0.45)
        px = (x0 + x1) / 2 + r * np.cos(a) * bw / 2
        py = (y0 + y1) / 2 + r * np.sin(a) * bh / 2
        cv2.fillPoly(m, [np.stack([px, py], 1).round().astype(np.int32)], 255)
    return m > 0


Label = tuple[int, float, float, float, float]


def render(spec: SynthSpec, split: str, index: int,
           bases: list[np.ndarray] | None = None) -> tuple[np.ndarray, list[Label]]:
    """One image (HWC uint8 BGR) and its labels ``(class, cx, cy, w, h)`` normalised."""
    cv2 = _cv2()
    rng = np.random.default_rng([spec.seed, SPLITS.index(split), index])
    w, h = spec.sizes[int(rng.integers(len(spec.sizes)))]
    img = _background(rng, _backgrounds() if bases is None else bases, w, h)
    short = min(w, h)
    objects: list[tuple[int, np.ndarray, np.ndarray]] = []  # class, full mask, visible mask
    for _ in range(int(rng.integers(spec.min_objects, spec.max_objects + 1))):
        for _try in range(20):
            cls = int(rng.integers(len(spec.classes)))
            side = rng.uniform(spec.min_frac, spec.max_frac) * short
            aspect = float(np.exp(rng.uniform(np.log(0.5), np.log(2.0))))
            bw = int(np.clip(side * np.sqrt(aspect), 8, w - 2))
            bh = int(np.clip(side / np.sqrt(aspect), 8, h - 2))
            x0, y0 = int(rng.integers(0, w - bw)), int(rng.integers(0, h - bh))
            mask = _shape_mask(cv2, cls, w, h, (x0, y0, x0 + bw, y0 + bh))
            if all((vis & ~mask).sum() >= MIN_VISIBLE * full.sum() for _, full, vis in objects):
                break
        else:
            continue  # no placement keeps every earlier object half visible
        objects = [(c, full, vis & ~mask) for c, full, vis in objects]
        objects.append((cls, mask, mask.copy()))
        tex = _texture(rng, w, h)
        img[mask] = tex[mask]
    labels = []
    for cls, _, vis in objects:
        ys, xs = np.nonzero(vis)
        bx0, bx1, by0, by1 = xs.min(), xs.max() + 1, ys.min(), ys.max() + 1
        labels.append((cls, (bx0 + bx1) / 2 / w, (by0 + by1) / 2 / h, (bx1 - bx0) / w,
                       (by1 - by0) / h))
    return img, labels


def _is_complete(root: Path, spec: SynthSpec) -> bool:
    try:
        return json.loads((root / "synth.json").read_text()) == spec.to_dict() \
            and (root / "data.yaml").is_file()
    except (OSError, ValueError):
        return False


def make_dataset(root: str | Path, spec: SynthSpec | None = None) -> Path:
    """Write the dataset under ``root`` (atomically: built beside it, then renamed into
    place) and return its ``data.yaml``. An existing, complete dataset of the same spec
    is reused; one of another spec is refused."""
    import yaml

    from ..errors import UsageError

    spec = spec or SynthSpec()
    root = Path(root)
    if root.exists():
        if _is_complete(root, spec):
            return root / "data.yaml"
        raise UsageError(f"{root} exists and is not a synthetic dataset of this spec")
    cv2 = _cv2()
    root.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{root.name}.", dir=root.parent))
    try:
        bases = _backgrounds()
        for split, n in (("train", spec.n_train), ("val", spec.n_val)):
            (tmp / "images" / split).mkdir(parents=True)
            (tmp / "labels" / split).mkdir(parents=True)
            for i in range(n):
                img, labels = render(spec, split, i, bases)
                stem = f"{split}_{i:05d}"
                if not cv2.imwrite(str(tmp / "images" / split / f"{stem}.jpg"), img,
                                   [cv2.IMWRITE_JPEG_QUALITY, 95]):
                    raise OSError(f"cannot write {stem}.jpg")
                (tmp / "labels" / split / f"{stem}.txt").write_text(
                    "".join(f"{c} {x:.6f} {y:.6f} {bw:.6f} {bh:.6f}\n" for c, x, y, bw, bh in labels))
        data = {"path": str(root.resolve()), "train": "images/train", "val": "images/val",
                "names": dict(enumerate(spec.classes))}
        (tmp / "data.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
        (tmp / "synth.json").write_text(json.dumps(spec.to_dict(), indent=2) + "\n")
        try:
            os.replace(tmp, root)
        except OSError:
            if not _is_complete(root, spec):  # another process finished first: use its copy
                raise
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return root / "data.yaml"
