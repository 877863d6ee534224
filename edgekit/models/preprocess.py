"""Deployment preprocessing in numpy: letterbox, BGR->RGB, /255, NCHW float32.

The arithmetic follows Ultralytics' LetterBox (auto=False, centred, pad value 114, linear
resize) so that a bundle's runtime sees exactly what the PyTorch predictor sees. Needs
OpenCV (shipped with ultralytics) or Pillow for decoding and resizing; not torch.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..families.base import PAD_VALUE

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")


@dataclass(frozen=True)
class Letterbox:
    """How an original image maps into the network input (to undo it on boxes)."""

    orig_hw: tuple[int, int]
    ratio: float  # x ratio: resized width / original width
    pad_left: int
    pad_top: int
    ratio_y: float | None = None  # resized height / original height; None: as ``ratio``

    def to_original(self, xyxy: np.ndarray, clip: bool = True) -> np.ndarray:
        """Boxes back in original-image pixels; ``clip`` bounds them by the image (as
        Ultralytics' YOLO predictor does; its RT-DETR predictor does not)."""
        out = xyxy.astype(np.float32).copy()
        ry = self.ratio_y or self.ratio
        out[..., [0, 2]] = (out[..., [0, 2]] - self.pad_left) / self.ratio
        out[..., [1, 3]] = (out[..., [1, 3]] - self.pad_top) / ry
        if clip:
            out[..., [0, 2]] = out[..., [0, 2]].clip(0, self.orig_hw[1])
            out[..., [1, 3]] = out[..., [1, 3]].clip(0, self.orig_hw[0])
        return out


def has_image_backend() -> bool:
    """OpenCV (exact Ultralytics resize) or Pillow is needed to decode and resize images."""
    import importlib.util

    return any(importlib.util.find_spec(m) is not None for m in ("cv2", "PIL"))


def _cv2():
    try:
        import cv2

        return cv2
    except ImportError:
        return None


def read_image(path: str | Path) -> np.ndarray:
    """Decode an image file to HWC uint8 BGR (OpenCV's convention, as Ultralytics uses)."""
    from ..errors import UsageError

    bad = UsageError(f"{path}: not an image that can be decoded (a folder, an empty or "
                     "corrupt file, or another format under an image name)")
    cv2 = _cv2()
    if cv2 is not None:
        img = cv2.imread(str(path), cv2.IMREAD_COLOR) if Path(path).is_file() else None
        if img is None:
            raise bad
        return img
    from PIL import Image

    try:
        with Image.open(path) as im:
            return np.asarray(im.convert("RGB"))[..., ::-1].copy()
    except (OSError, ValueError) as exc:  # PIL's UnidentifiedImageError is an OSError
        raise bad from exc


def _resize(img: np.ndarray, wh: tuple[int, int]) -> np.ndarray:
    cv2 = _cv2()
    if cv2 is not None:
        return cv2.resize(img, wh, interpolation=cv2.INTER_LINEAR)
    from PIL import Image

    return np.asarray(Image.fromarray(img).resize(wh, Image.Resampling.BILINEAR))


def letterbox(img: np.ndarray, size: int) -> tuple[np.ndarray, Letterbox]:
    """Resize keeping aspect ratio and pad to ``size`` x ``size``; returns HWC uint8."""
    h, w = img.shape[:2]
    r = min(size / h, size / w)
    new_w, new_h = max(round(w * r), 1), max(round(h * r), 1)
    dw, dh = (size - new_w) / 2, (size - new_h) / 2
    if (w, h) != (new_w, new_h):
        img = _resize(img, (new_w, new_h))
    top, bottom = round(dh - 0.1), round(dh + 0.1)
    left, right = round(dw - 0.1), round(dw + 0.1)
    out = np.full((new_h + top + bottom, new_w + left + right, 3), PAD_VALUE, dtype=np.uint8)
    out[top : top + new_h, left : left + new_w] = img
    # undone per axis by the rounded sides, as Ultralytics' scale_boxes does (8.4): one
    # ratio r for both moved boxes by up to 0.4 px at 160 px, enough to change mAP50-95
    return out, Letterbox((h, w), new_w / w, left, top, ratio_y=new_h / h)


def stretch(img: np.ndarray, size: int) -> tuple[np.ndarray, Letterbox]:
    """Resize to size x size ignoring the aspect ratio (Ultralytics' RT-DETR predictor)."""
    h, w = img.shape[:2]
    out = img if (h, w) == (size, size) else _resize(img, (size, size))
    return out, Letterbox((h, w), size / w, 0, 0, ratio_y=size / h)


def to_input(img_bgr: np.ndarray, size: int, mode: str = "letterbox") -> tuple[np.ndarray, Letterbox]:
    """BGR HWC uint8 image -> (1, 3, size, size) float32 RGB in [0, 1], and the mapping."""
    boxed, lb = (stretch if mode == "stretch" else letterbox)(img_bgr, size)
    chw = boxed[..., ::-1].transpose(2, 0, 1)
    return (np.ascontiguousarray(chw, dtype=np.float32) / 255.0)[None], lb


def input_spec(family: str) -> dict[str, object]:
    """The manifest's input section for a family: its normalisation and resize mode."""
    from ..families import get_family

    return get_family(family).input_spec()


def sample_images() -> list[Path]:
    """The real images that ship inside the ultralytics package (bus.jpg, zidane.jpg)."""
    import importlib.util

    spec = importlib.util.find_spec("ultralytics")
    if spec is None or not spec.submodule_search_locations:
        return []
    assets = Path(next(iter(spec.submodule_search_locations))) / "assets"
    return sorted(p for p in assets.glob("*") if p.suffix.lower() in IMAGE_SUFFIXES)


def list_images(directory: str | Path | list[Path] | None) -> list[Path]:
    """The images of a folder (sorted), the sample images for None, or a list of image files
    chosen already (calibration images picked from a dataset) as given."""
    from ..errors import UsageError

    if isinstance(directory, list):
        return list(directory)
    if directory is None:
        imgs = sample_images()
        if not imgs:
            raise UsageError("no --images given and the ultralytics sample images are not installed")
        return imgs
    d = Path(directory)
    if d.is_file():
        raise UsageError(f"{d}: give a directory of images, not a file")
    if not d.is_dir():
        raise UsageError(f"image directory not found: {d}")
    imgs = sorted(p for p in d.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not imgs:
        raise UsageError(f"no images ({', '.join(IMAGE_SUFFIXES)}) in {d}")
    return imgs


def image_provenance(directory: str | Path | list[Path] | None) -> dict[str, object]:
    """Which images fed an export: the folder (absolute; None = Ultralytics' samples or a
    list of files), the file names, and one sha256 over every (name, content sha256) pair in
    order."""
    import hashlib

    from .source import sha256_file

    paths = list_images(directory)
    h = hashlib.sha256()
    for p in paths:
        h.update(f"{p.name}\0{sha256_file(p)}\n".encode())
    folder = directory if isinstance(directory, (str, Path)) else None
    return {"dir": str(Path(folder).resolve()) if folder is not None else None,
            "files": [p.name for p in paths], "sha256": h.hexdigest()}


def check_images(directory: str | Path | list[Path] | None) -> None:
    """Decode every image a directory offers, so a bad file is named before any work."""
    for p in list_images(directory):
        read_image(p)


def image_batch(paths: list[Path], size: int, count: int | None = None,
                mode: str = "letterbox") -> np.ndarray:
    """Preprocessed (count, 3, size, size) inputs. With fewer files than ``count``, adds
    horizontally flipped and shifted-crop variants (deterministic) to reach it."""
    base = [to_input(read_image(p), size, mode)[0][0] for p in paths]
    if count is None:
        return np.stack(base)
    out: list[np.ndarray] = []
    i = 0
    while len(out) < count:
        img = base[i % len(base)]
        variant = i // len(base)
        if variant % 2 == 1:
            img = img[:, :, ::-1]
        if variant >= 2:
            shift = (variant * 17) % max(size // 4, 1)
            img = np.roll(img, shift, axis=1 + (variant % 2))
        out.append(np.ascontiguousarray(img))
        i += 1
    return np.stack(out)
