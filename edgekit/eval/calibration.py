"""Calibration images from a labelled dataset: ``export --data DATA.yaml``, as Ultralytics'
``data=`` takes them, with the provenance the manifest records."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import UsageError
from ..models.preprocess import check_images, image_provenance

#: the split calibration images come from, and the one the reference mAP is scored on
CALIBRATION_SPLIT = "train"
EVAL_SPLIT = "val"


def dataset_calibration(data: str | Path, *, count: int,
                        fraction: float | None = None) -> tuple[list[Path], dict[str, Any]]:
    """Calibration images from the dataset's train split: ``count`` of them, or a
    ``fraction`` of the split, spread evenly over it (deterministic), each decoded once here
    so a bad file is named before any work. Returns the images and their provenance."""
    from .data import load_dataset

    if fraction is not None and not 0 < fraction <= 1:
        raise UsageError(f"--fraction {fraction}: give a share of the train split in (0, 1]")
    ds = load_dataset(data, CALIBRATION_SPLIT)
    paths = [s.image for s in ds.samples]
    if not paths:
        raise UsageError(f"{data}: its '{CALIBRATION_SPLIT}' split has no images to calibrate on")
    n = math.ceil(fraction * len(paths)) if fraction is not None else min(count, len(paths))
    idx = sorted({int(i) for i in np.linspace(0, len(paths) - 1, max(n, 1)).round()})
    pick = [paths[i] for i in idx]
    check_images(pick)
    info = image_provenance(pick)
    info.update({"source": "dataset", "data": str(Path(data).resolve()),
                 "split": CALIBRATION_SPLIT, "available": len(paths), "count": len(pick),
                 "fraction": fraction})
    return pick, info


def has_split(data: str | Path, split: str) -> bool:
    import yaml

    try:
        cfg = yaml.safe_load(Path(data).read_text())
    except (OSError, yaml.YAMLError, UnicodeDecodeError):
        return False
    return isinstance(cfg, dict) and bool(cfg.get(split))
