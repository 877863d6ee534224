"""What bench runs: the target (a bundle, or a bare model file routed to its runtime by
suffix), the backends it times by default, the precision of each artifact, and the input
it feeds."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..bundle import Bundle, load_bundle
from ..errors import UsageError
from ..models.preprocess import read_image
from ..runtimes import bundle_artifacts, get_runtime, runtime_for_file

SAMPLE_IMAGE = "sample.jpg"


@dataclass
class Target:
    path: Path
    bundle: Bundle | None
    artifacts: dict[str, Path]


def resolve_target(path: str | Path) -> Target:
    p = Path(path)
    if p.is_dir():
        b = load_bundle(p)
        return Target(p, b, bundle_artifacts(b))
    if not p.exists():
        raise UsageError(f"not found: {p}")
    return Target(p, None, {runtime_for_file(p): p})


def default_backends(target: Target) -> list[str]:
    """What bench times when no --backend is given: a bundle's profile runtimes (and those of
    a profile it was built for on the device), as parity checks; a bare file's runtime."""
    if target.bundle is None:
        return list(target.artifacts)
    m = target.bundle.manifest
    wanted: list[str] = []
    for prof in (m.profile, m.device_profile):
        runtimes_of = list(prof.runtimes) if prof is not None else []
        wanted += [r for r in runtimes_of if r not in wanted]
    return [r for r in wanted if r in target.artifacts] or list(target.artifacts)


def artifact_precision(backend: str, target: Target) -> str:
    """The precision of the file a backend runs: a bundle records it per artifact (an INT8
    bundle keeps the fp32 model.onnx); a bare file's is read from its graph."""
    plugin = get_runtime(backend)
    art = target.artifacts.get(backend)
    if art is None:  # a runtime that runs the bundle's source (torch)
        return plugin.precision_of({}, target.bundle.manifest.profile) if target.bundle \
            else "unknown"
    if target.bundle is not None and art.is_relative_to(target.bundle.path):
        m = target.bundle.manifest
        if art.relative_to(target.bundle.path).as_posix() == m.artifacts.get("onnx"):
            return "fp32"
        return plugin.precision_of(m.runtime(backend) or {}, m.profile)
    try:
        return plugin.file_precision(art)
    except Exception:  # noqa: BLE001 - an unreadable file is reported by the runtime that loads it
        return "unknown"


def feed_for(runner: Any, target: Target, batch: int,
              imgsz: int | None = None) -> dict[str, np.ndarray]:
    """The input bench feeds: a bundle's recorded reference image; for a bare model file,
    random data of its input shape, whose dynamic sizes take ``imgsz`` (--imgsz)."""
    if target.bundle is not None:
        x = np.load(target.bundle.file("reference.npz"))["inputs"][0][:1]
        return {"images": np.ascontiguousarray(np.repeat(x, batch, axis=0))}
    shape = runner.input_shape()
    if shape is None:
        raise UsageError(f"{target.path}: cannot tell the input shape")
    return {runner.input_names[0]: random_input(target.path, shape, batch, imgsz)}


def random_input(path: Path, shape: list[Any], batch: int, imgsz: int | None) -> np.ndarray:
    """Random data of a graph's input ``shape`` (batch first): a dynamic size other than
    the batch takes ``imgsz``, which such a graph needs (refused, exit 2, without it)."""
    dims = [d if isinstance(d, int) and d > 0 else None for d in shape]
    if imgsz is None and None in dims[1:]:
        raise UsageError(f"{path}: the input shape {shape} has dynamic sizes; give the size "
                         "to run it at with --imgsz")
    fixed = [int(d) for d in dims[2:] if d is not None]
    if imgsz is not None and fixed and any(d != imgsz for d in fixed):
        raise UsageError(f"--imgsz {imgsz}: {path} has a fixed input shape {shape}")
    rng = np.random.default_rng(0)
    return rng.random([batch] + [int(d or imgsz or 0) for d in dims[1:]], dtype=np.float32)


def sample_image(target: Target) -> np.ndarray:
    assert target.bundle is not None
    f = target.bundle.file(SAMPLE_IMAGE)
    if f.is_file():
        return read_image(f)
    # older bundles: rebuild an image from the stored reference input
    x = np.load(target.bundle.file("reference.npz"))["inputs"][0][0]
    return np.ascontiguousarray((x.transpose(1, 2, 0)[..., ::-1] * 255).astype(np.uint8))
