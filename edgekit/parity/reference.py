"""``edgekit parity --reference MODEL``: recompute the golden reference with torch."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import UsageError
from ..export.bundle import Bundle
from ..families import get_format
from ..models.reference import prepare, recorded_images, reference_outputs
from ..models.source import resolve_source
from .run import load_reference


def recompute_reference(bundle: Bundle, model_spec: str, *,
                        trust_checkpoint: bool = False) -> dict[str, np.ndarray]:
    m = bundle.manifest
    stored = load_reference(bundle)
    inputs = stored["inputs"]
    src = resolve_source(model_spec, trust=trust_checkpoint)
    prep = prepare(src, imgsz=m["input"]["imgsz"], seed=m["source"].get("seed") or 0,
                   end2end=not get_format(m["output"]["format"]).needs_nms,
                   dynamic=bool(m["input"].get("dynamic_batch")),
                   images=recorded_images(m, src), example=inputs[0])
    got = {s.name for s in prep.sites}
    want = {t["name"] for t in bundle.taps}
    if got != want:
        raise UsageError(f"{model_spec} does not have the bundle's attention sites "
                         f"(missing {sorted(want - got)[:3]}, extra {sorted(got - want)[:3]})")
    ref: dict[str, Any] = reference_outputs(prep, inputs)
    ref["inputs"] = inputs
    return ref
