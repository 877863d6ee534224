"""Reading an Ultralytics YOLO dataset (``data.yaml``) for evaluation.

Conventions followed: ``path`` is the dataset root (relative to the YAML's folder when
relative; the YAML's folder when absent); a split is a folder of images, a ``.txt`` list of
image paths, or a list of those; the label of ``.../images/.../x.jpg`` is
``.../labels/.../x.txt`` with one ``class cx cy w h`` line per object (normalised; a polygon
line is reduced to its box); an image without a label file has no objects. Every problem
is a :class:`UsageError` that names the file.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import UsageError
from ..models.preprocess import IMAGE_SUFFIXES

COORD_TOL = 0.01  # normalised coordinates may overshoot [0, 1] by this much (rounding)


@dataclass(frozen=True)
class Sample:
    image: Path
    label: Path | None  # None: no label file (no objects)
    classes: np.ndarray  # (n,) int
    boxes: np.ndarray  # (n, 4) normalised cx, cy, w, h


@dataclass(frozen=True)
class Dataset:
    yaml: Path
    split: str
    names: dict[int, str]
    samples: list[Sample]

    @property
    def instances(self) -> int:
        return sum(len(s.classes) for s in self.samples)

    def fingerprint(self) -> str:
        """Hash of the image names and label contents: a recorded reference mAP applies to
        a dataset only when this matches."""
        h = hashlib.sha256()
        for s in self.samples:
            h.update(s.image.name.encode())
            h.update(np.ascontiguousarray(s.classes, np.int64).tobytes())
            h.update(np.ascontiguousarray(s.boxes, np.float64).round(6).tobytes())
        return h.hexdigest()[:16]


def _names(raw: object, nc: object, yaml_path: Path) -> dict[int, str]:
    if isinstance(raw, dict):
        try:
            names = {int(k): str(v) for k, v in raw.items()}
        except (TypeError, ValueError):
            raise UsageError(f"{yaml_path}: 'names' keys must be class indices") from None
    elif isinstance(raw, list):
        names = {i: str(v) for i, v in enumerate(raw)}
    elif raw is None and isinstance(nc, int) and nc > 0:
        names = {i: f"class{i}" for i in range(nc)}
    else:
        raise UsageError(f"{yaml_path}: needs 'names' (a list or a mapping of class names)")
    if not names or sorted(names) != list(range(len(names))):
        raise UsageError(f"{yaml_path}: class indices in 'names' must be 0..n-1")
    if isinstance(nc, int) and nc != len(names):
        raise UsageError(f"{yaml_path}: nc is {nc} but 'names' has {len(names)} classes")
    return names


def label_path(image: Path) -> Path:
    """Ultralytics' rule: the last ``images`` folder in the path becomes ``labels``."""
    parts = list(image.parts)
    for i in range(len(parts) - 2, -1, -1):
        if parts[i] == "images":
            parts[i] = "labels"
            return Path(*parts).with_suffix(".txt")
    return image.with_suffix(".txt")


def _split_images(entry: object, root: Path, yaml_path: Path, split: str) -> list[Path]:
    entries = entry if isinstance(entry, list) else [entry]
    images: list[Path] = []
    for e in entries:
        if not isinstance(e, str) or not e:
            raise UsageError(f"{yaml_path}: split '{split}' must be a path or a list of paths")
        p = Path(e) if Path(e).is_absolute() else root / e
        if p.is_dir():
            images += sorted(q for q in p.rglob("*") if q.suffix.lower() in IMAGE_SUFFIXES)
        elif p.is_file() and p.suffix == ".txt":
            for line in p.read_text().splitlines():
                if line.strip():
                    q = Path(line.strip())
                    images.append(q if q.is_absolute() else (p.parent / q))
        else:
            raise UsageError(f"{yaml_path}: split '{split}' points to {p}, which does not exist")
    if not images:
        raise UsageError(f"{yaml_path}: split '{split}' has no images "
                         f"({', '.join(IMAGE_SUFFIXES)})")
    return images


def read_labels(path: Path, nc: int) -> tuple[np.ndarray, np.ndarray]:
    classes: list[int] = []
    boxes: list[list[float]] = []
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path}: cannot read label file: {exc}") from None
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            vals = [float(v) for v in line.split()]
        except ValueError:
            raise UsageError(f"{path}:{n}: not a label line (class cx cy w h): "
                             f"{line.strip()[:60]!r}") from None
        if len(vals) != 5 and (len(vals) < 7 or len(vals) % 2 == 0):
            raise UsageError(f"{path}:{n}: expected 'class cx cy w h' (or a polygon), "
                             f"got {len(vals)} numbers")
        c = vals[0]
        if c != int(c) or not 0 <= c < nc:
            raise UsageError(f"{path}:{n}: class {c:g} is out of range 0..{nc - 1}")
        if len(vals) == 5:
            box = vals[1:]
            lo = [box[0] - box[2] / 2, box[1] - box[3] / 2]
            hi = [box[0] + box[2] / 2, box[1] + box[3] / 2]
        else:
            xy = np.asarray(vals[1:]).reshape(-1, 2)
            lo, hi = list(xy.min(0)), list(xy.max(0))
            box = [(lo[0] + hi[0]) / 2, (lo[1] + hi[1]) / 2, hi[0] - lo[0], hi[1] - lo[1]]
        if min(lo) < -COORD_TOL or max(hi) > 1 + COORD_TOL or box[2] < 0 or box[3] < 0:
            raise UsageError(f"{path}:{n}: box is not normalised to [0, 1]: {line.strip()[:60]!r}")
        classes.append(int(c))
        boxes.append(box)
    return np.asarray(classes, np.int64), np.asarray(boxes, np.float64).reshape(-1, 4)


def load_dataset(yaml_path: str | Path, split: str = "val", *,
                 max_images: int | None = None) -> Dataset:
    """Parse ``data.yaml`` and every label of ``split`` (images are decoded later)."""
    import yaml

    yp = Path(yaml_path)
    if not yp.is_file():
        raise UsageError(f"dataset YAML not found: {yp}")
    try:
        cfg = yaml.safe_load(yp.read_text())
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        where = getattr(exc, "problem_mark", None)
        at = f" (line {where.line + 1})" if where is not None else ""
        raise UsageError(f"{yp}: malformed YAML{at}") from None
    if not isinstance(cfg, dict):
        raise UsageError(f"{yp}: not an Ultralytics dataset YAML (expected a mapping with "
                         "'names' and the splits)")
    names = _names(cfg.get("names"), cfg.get("nc"), yp)
    if not cfg.get(split):
        have = [k for k in ("train", "val", "test") if cfg.get(k)]
        raise UsageError(f"{yp}: has no '{split}' split (has: {', '.join(have) or 'none'})")
    root = Path(str(cfg.get("path") or "."))
    if not root.is_absolute():
        root = yp.parent / root
    images = _split_images(cfg[split], root, yp, split)
    if max_images is not None:
        images = images[:max_images]
    samples = []
    for img in images:
        lp = label_path(img)
        if lp.is_file():
            cls, boxes = read_labels(lp, len(names))
            samples.append(Sample(img, lp, cls, boxes))
        else:
            samples.append(Sample(img, None, np.zeros(0, np.int64), np.zeros((0, 4))))
    return Dataset(yp, split, names, samples)
