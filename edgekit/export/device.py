"""Building a bundle's artifacts on the device: runtimes whose artifacts are not portable
(TensorRT engines) build from the bundle's ONNX on the machine that runs them, without
torch."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._lazy import require
from .._paths import check_writable_dir, disk_full_is_usage_error, tree_bytes
from ..bundle import BundleWriter, load_bundle, write_manifest
from ..errors import UsageError

if TYPE_CHECKING:
    from ..bundle import Manifest
    from ..profiles.schema import Profile
    from .pipeline import ExportResult

log = logging.getLogger(__name__)


def build_on_device(bundle_dir: Path, profile: Profile,
                    allow_known_issues: tuple[str, ...] = ()) -> ExportResult:
    """Build the artifacts of ``profile``'s runtimes into an existing bundle, here, after
    checking this device's versions against the known-bad table (the matches are added to
    the manifest's ``known_issues``)."""
    from ..known_issues import check_bundle
    from ..runtimes import BuildContext, get_runtime
    from .pipeline import ExportResult, check_backends_available

    portable = [r for r in profile.runtimes if get_runtime(r).portable]
    if portable:
        raise UsageError("building into an existing bundle is for runtimes whose artifacts "
                         f"are not portable (TensorRT engines); {profile.name} targets "
                         f"{', '.join(profile.runtimes)}")
    bundle = load_bundle(bundle_dir)
    check_backends_available(profile)
    check_writable_dir(bundle_dir.parent, "the bundle's folder")
    profile = reconcile_profile(profile, bundle.manifest)
    found = [m.record() for m in check_bundle(bundle.manifest, profile, profile.runtimes,
                                              allow_known_issues)]
    onnx = require("onnx", purpose="a build from the bundle's ONNX")
    # a copy of the bundle, and an engine about the size of its ONNX
    need = tree_bytes(bundle_dir) + (bundle_dir / "model.onnx").stat().st_size
    with disk_full_is_usage_error(bundle_dir.parent, lambda: need), \
            BundleWriter(bundle_dir, force=True) as tmp:  # the artifacts are added in place
        for p in bundle_dir.iterdir():
            if p.name != "manifest.json":
                (shutil.copytree if p.is_dir() else shutil.copy2)(p, tmp / p.name)
        ctx = BuildContext(tmp, profile, onnx.load(str(tmp / "model.onnx")), bundle.taps,
                           bundle.manifest.input.resize.mode)
        from .pipeline import build_runtimes

        manifest = build_runtimes(ctx, bundle.manifest)
        seen = {r["id"] for r in found}
        issues = [r for r in manifest.known_issues or [] if r["id"] not in seen] + found
        manifest = write_manifest(tmp, manifest.replace(device_profile=profile,
                                                        known_issues=issues or None))
    return ExportResult(bundle_dir, manifest)


def reconcile_profile(profile: Profile, manifest: Manifest) -> Profile:
    """A device profile applied to an existing bundle: the bundle's ONNX fixes the image
    size and, when its batch is static, the batch (a dynamic range cannot build on it)."""
    inp = manifest.input
    update: dict[str, Any] = {}
    if profile.imgsz != inp.imgsz:
        update["imgsz"] = inp.imgsz
    if not inp.dynamic_batch:
        size = int(inp.shape[0])
        b = profile.batch
        if b.dynamic or b.size != size:
            update["batch"] = b.model_copy(update={"dynamic": False, "size": size, "min": size,
                                                   "opt": None, "max": size})
            log.warning(f"the bundle's ONNX has a static batch of {size}: the "
                f"engine takes batch {size} (profile {profile.name} asked for "
                f"{f'{b.min}..{b.max}' if b.dynamic else b.size}); export with a "
                "dynamic-batch profile for a range")
    return profile.model_copy(update=update) if update else profile
