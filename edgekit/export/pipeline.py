"""``edgekit export``: model -> verified bundle. Orchestration only: the probe export with
exact taps (:mod:`.onnx`), the reference, the ONNX self-check (:mod:`.check`), each target
runtime's build (its plug-in, :mod:`edgekit.runtimes`), ``reproduce.sh`` (:mod:`.reproduce`),
self-parity, and the manifest written last."""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .._lazy import require
from .._paths import check_writable_dir, disk_full_is_usage_error
from ..bundle import BundleWriter, Manifest, ParityRecord, refuse_existing, write_manifest
from ..errors import BackendError, UsageError
from ..families import get_family
from ..models.preprocess import check_images, image_batch, image_provenance, list_images
from ..models.source import resolve_source
from ..runtimes import BuildContext
from .check import check_onnx_outputs
from .manifest import build_manifest, record_calibration_images, site_taps
from .reproduce import write_reproduce

if TYPE_CHECKING:
    from ..profiles.schema import Profile

log = logging.getLogger(__name__)
N_RANDOM_INPUTS = 1


@dataclass
class ExportResult:
    bundle: Path
    manifest: Manifest
    parity: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)


def bundle_name(spec: str, profile_name: str, imgsz: int, end2end: bool = True) -> str:
    return f"{Path(spec).stem}{'' if end2end else '-o2m'}-{profile_name}-{imgsz}"


def check_backends_available(profile: Profile) -> None:
    """Fail fast (exit 3) before any heavy work when a target runtime is missing."""
    from ..runtimes import get_runtime

    for rt in profile.runtimes:
        get_runtime(rt).check_installed(profile)


def _check_out(out: Path) -> None:
    check_writable_dir(out, "--out")


def bundle_bytes(model: Any, profile: Profile, ref_inputs: np.ndarray) -> float:
    """Roughly what a bundle takes on disk: an fp32 copy of the weights per model file
    (the probe, model.onnx, and each runtime's own), and the reference (its inputs, with
    the outputs and taps about twice as much again)."""
    from ..runtimes import get_runtime

    weights = 4 * sum(p.numel() for p in model.parameters())
    files = 2 + sum(get_runtime(r).files_built(profile) for r in profile.runtimes)
    return files * weights + 3 * ref_inputs.nbytes + 2**20


#: held-out images (``--data``'s val split) added to the reference: the reduced-precision
#: verdict takes medians over the reference's real images, and two sample images are too
#: few for a median. Each costs 3·imgsz²·4 bytes of input plus its taps in reference.npz.
EXTRA_REFERENCE_IMAGES = 8


def held_out_images(data: str | None, have: str | None,
                    count: int = EXTRA_REFERENCE_IMAGES) -> list[Path]:
    """Up to ``count`` images of ``data``'s val split that the reference does not have yet.
    Not the calibration images: a build cannot be judged on what it was calibrated on (a
    calibration set that misrepresents the data, black images say, would judge its own
    build fine)."""
    if data is None or count <= 0:
        return []
    from ..eval.calibration import EVAL_SPLIT, has_split
    from ..eval.data import load_dataset

    if not has_split(data, EVAL_SPLIT):
        return []
    seen = {p.resolve() for p in list_images(have)}
    out: list[Path] = []
    for sample in load_dataset(data, EVAL_SPLIT, max_images=count + len(seen)).samples:
        if sample.image.resolve() not in seen and len(out) < count:
            seen.add(sample.image.resolve())
            out.append(sample.image)
    return out


def reference_inputs(imgsz: int, batch: int, images_dir: str | None, seed: int,
                     mode: str = "letterbox",
                     extra: list[Path] | None = None) -> tuple[np.ndarray, list[str]]:
    """Golden inputs: the real images (letterboxed; ``images_dir``'s, then ``extra``) plus
    seeded random tensors.

    Shape (K, batch, 3, imgsz, imgsz); one entry per runtime call."""
    paths = list_images(images_dir) + list(extra or [])
    imgs = image_batch(paths, imgsz, mode=mode)
    rng = np.random.default_rng(seed)
    # seeded noise around mid-grey: in range for a detector, unlike uniform [0, 1] noise
    rand = np.clip(0.5 + 0.15 * rng.standard_normal((N_RANDOM_INPUTS, 3, imgsz, imgsz)), 0, 1)
    allx = np.concatenate([imgs, rand])
    groups = [np.stack([allx[(k + j) % len(allx)] for j in range(batch)]) for k in range(len(allx))]
    labels = [p.name for p in paths] + [f"random(seed={seed})#{i}" for i in range(N_RANDOM_INPUTS)]
    return np.stack(groups).astype(np.float32), labels


def export(model_spec: str, profile: Profile, out_dir: Path, *, seed: int = 0,
           end2end: bool | None = None, parity: bool = True, images: str | None = None,
           force: bool = False, trust_checkpoint: bool = False,
           data: str | None = None, fraction: float | None = None,
           exporter: str | None = None, allow_known_issues: tuple[str, ...] = ()) -> ExportResult:
    """Build a bundle ``out_dir/<model>[-o2m]-<profile>-<imgsz>``. An existing bundle of that
    name is refused (exit 2) unless ``force``; then it is replaced once the new one is
    complete. ``end2end`` None exports a YOLO checkpoint's own head (see ``FamilySpec.choose_head``).
    ``data`` (an Ultralytics data.yaml): calibration images from its train split (the
    profile's count, or ``fraction`` of the split), and the PyTorch reference mAP on its val
    split recorded in the bundle, so a device without torch can gate on the drop.
    ``exporter``: ``torchscript`` or ``dynamo`` (None: :data:`.exporters.DEFAULT_EXPORTER`)."""
    from ..known_issues import check_allowed

    allow_known_issues = check_allowed(allow_known_issues)
    if Path(model_spec).is_dir():
        from .device import build_on_device

        return build_on_device(Path(model_spec), profile, allow_known_issues)
    _check_out(out_dir)
    from .exporters import DEFAULT_EXPORTER, check_dynamo_supported, check_exporter

    exporter = check_exporter(exporter or DEFAULT_EXPORTER)
    if exporter == "dynamo":
        check_dynamo_supported()
    src = resolve_source(model_spec, trust=trust_checkpoint)
    check_backends_available(profile)
    check_images(images)
    calib: str | list[Path] | None = images  # what calibrates: --images, or --data's picks
    calib_info: dict[str, Any] | None = None
    if data is not None:
        from ..eval.calibration import dataset_calibration

        calib, calib_info = dataset_calibration(data, count=profile.calibration.count,
                                                fraction=fraction)
        # --data is the explicit choice: it replaces the profile's folder and count
        profile = profile.model_copy(update={"calibration": profile.calibration.model_copy(
            update={"images": None, "count": len(calib)})})
    elif fraction is not None:
        raise UsageError("--fraction is a share of --data's train split: give --data too")
    if profile.precision.value == "int8" and profile.calibration.images:
        check_images(profile.calibration.images)
    if not force and (end2end or (end2end is None and src.kind == "yaml")):
        # before any heavy work when the name is known (else as soon as the head is)
        refuse_existing(out_dir / bundle_name(model_spec, profile.name, profile.imgsz))
    image_info = image_provenance(images)
    onnx = require("onnx", purpose="export")
    from ..models.reference import prepare, reference_outputs
    from ..models.sites import probe_output_names
    from . import onnx as onnx_x

    imgsz = profile.imgsz
    t0 = time.perf_counter()
    batch = profile.batch.size
    grey = np.full((batch, 3, imgsz, imgsz), 0.5, dtype=np.float32)
    prep = prepare(src, imgsz=imgsz, seed=seed, end2end=end2end, dynamic=profile.batch.dynamic,
                   images=images, example=grey)
    lm, sites, probe = prep.loaded, prep.sites, prep.probe
    one2one = lm.head_choice.get("exported", "one2one") == "one2one"
    name = bundle_name(model_spec, profile.name, imgsz, one2one)
    if not force:
        refuse_existing(out_dir / name)
    fam = get_family(lm.family)
    mode = fam.resize
    extra = held_out_images(data, images)
    if data is None and images is None and src.kind == "checkpoint":
        from .images import recorded_reference

        extra = recorded_reference(lm.model)  # the val images of the dataset it learnt
    ref_in, ref_labels = reference_inputs(imgsz, batch, images, seed, mode, extra)
    notes = list(prep.notes)
    opset, opset_notes = onnx_x.choose_opset(lm.family, profile.opset, exporter)
    notes += opset_notes
    for n in notes:
        log.warning(n)
    issues, opset = check_known_issues(profile, lm.family, opset, allow_known_issues)
    q = next((s for s in sites if not s.is_attention), None)
    decorrelated = prep.decorrelated
    out_names = probe_output_names(sites)
    import torch

    example = torch.from_numpy(ref_in[0])
    need = bundle_bytes(lm.model, profile, ref_in)
    with disk_full_is_usage_error(out_dir, lambda: need), \
            BundleWriter(out_dir / name, force=force) as tmp:
        log.info(f"exporting {src.spec} ({lm.family}, {len(sites) - (1 if q else 0)} attention sites) "
            f"at {imgsz}px, opset {opset} -> {out_dir / name}")
        probe_path = tmp / "probe.onnx"
        exporter, opset = export_probe(probe, example, probe_path, lm.family, profile, opset,
                                       out_names, exporter, parity, notes)
        graph = onnx.load(str(probe_path))
        probe_path.unlink()
        if profile.simplify:
            graph = onnx_x.simplify(graph)
        deployed, tap_map = onnx_x.strip_taps(graph, out_names)
        onnx_x.set_metadata(deployed, onnx_x.ultralytics_metadata(lm, imgsz, batch, profile.batch.dynamic))
        onnx.save(deployed, str(tmp / "model.onnx"))
        t_export = time.perf_counter() - t0

        # golden reference: PyTorch fp32 through the same probe, on the same inputs
        ref_arrays = reference_outputs(prep, ref_in)
        taps = site_taps(sites, tap_map, ref_arrays, deployed, fam.num_queries(lm.head))
        # compressed: the letterboxed images' padding and 8-bit levels shrink several-fold
        arrays: dict[str, Any] = {"inputs": ref_in, **ref_arrays}
        np.savez_compressed(tmp / "reference.npz", **arrays)
        manifest = build_manifest(src=src, lm=lm, profile=profile, opset=opset, taps=taps,
                                  out_shape=list(ref_arrays["output0"].shape[2:]),
                                  ref_labels=ref_labels, image_info=image_info, notes=notes,
                                  decorrelated=decorrelated, t_export=t_export)
        manifest = manifest.replace(exporter=exporter, known_issues=issues or None)
        if parity:
            manifest = manifest.replace(onnx_check=check_onnx_outputs(
                tmp, manifest, {**ref_arrays, "inputs": ref_in}, profile))
        manifest = build_runtimes(BuildContext(tmp, profile, deployed, taps, mode, calib),
                                  manifest)
        manifest = record_calibration_images(manifest, profile, images, image_info, calib_info)
        if data is not None:
            manifest = _record_eval_reference(manifest, data, trust_checkpoint)
        import shutil

        first_image = list_images(images)[0]
        shutil.copyfile(first_image, tmp / ("sample" + first_image.suffix.lower()
                                            if first_image.suffix.lower() != ".jpeg" else "sample.jpg"))
        write_reproduce(tmp, src, profile, seed=seed,
                        end2end=one2one if lm.head_choice else None, parity=parity,
                        images=images, out_dir=out_dir, image_info=image_info,
                        data=data, fraction=fraction, exporter=exporter,
                        allow_known_issues=allow_known_issues)
        parity_report = None
        if parity:
            parity_report = self_parity(tmp, manifest, profile, final=out_dir / name)
            manifest = manifest.replace(parity=parity_record(parity_report))
        manifest = write_manifest(tmp, manifest)
    result = ExportResult(out_dir / name, manifest, parity_report, notes)
    return result


def export_probe(probe: Any, example: Any, path: Path, family: str, profile: Profile,
                 opset: int, out_names: list[str], exporter: str, parity: bool,
                 notes: list[str]) -> tuple[str, int]:
    """The probe to ONNX by ``exporter``; returns the exporter and opset used. When torch
    refuses the TorchScript exporter itself (PyTorch is removing it), the dynamo exporter
    takes over with one warning, noted in the manifest, provided self-parity will judge its
    graph and the opset allows it; otherwise the export stops, naming ``--exporter dynamo``."""
    from . import onnx as onnx_x
    from .exporters import check_dynamo_supported, torchscript_refused

    b = profile.batch
    kw: dict[str, Any] = {"tap_names": out_names, "dynamic_batch": b.dynamic,
                          "batch_range": (b.min, b.max) if b.dynamic else None,
                          "static_head": get_family(family).dynamo_static_head}
    try:
        onnx_x.export_probe(probe, example, path, opset=opset, exporter=exporter, **kw)
        return exporter, opset
    except Exception as exc:
        if exporter != "torchscript" or not torchscript_refused(exc):
            raise
        why = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if not parity or (profile.opset is not None and profile.opset < 18):
            raise BackendError(f"torch refused the TorchScript exporter ({why}); export with "
                               "--exporter dynamo") from None
    check_dynamo_supported()
    opset, more = onnx_x.choose_opset(family, profile.opset, "dynamo")
    note = (f"torch refused the TorchScript exporter ({why}): exported with the dynamo "
            f"exporter at opset {opset} instead; self-parity checks its graph")
    log.warning(note)
    notes += [note, *more]
    onnx_x.export_probe(probe, example, path, opset=opset, exporter="dynamo", **kw)
    return "dynamo", opset


def check_known_issues(profile: Profile, family: str, opset: int,
                       allow: tuple[str, ...]) -> tuple[list[dict[str, Any]], int]:
    """The known-bad environment entries this export matches (each warned with its source,
    or refused unless allowed: :mod:`edgekit.known_issues`), as the manifest records them,
    and the opset after any workaround's cap."""
    from ..known_issues import Target, check_environment, opset_cap

    found = check_environment(Target.of(profile, family, opset), allow)
    cap = opset_cap(found)
    if cap is not None and opset > cap:
        log.warning(f"opset {opset} -> {cap}: a known issue's workaround (see above)")
        opset = cap
    return [m.record() for m in found], opset


def _record_eval_reference(manifest: Manifest, data: str,
                           trust_checkpoint: bool = False) -> Manifest:
    """``export --data``: the PyTorch reference mAP on the dataset's val split, recorded so
    ``edgekit eval`` can gate on the drop where torch is not installed."""
    from ..eval.calibration import EVAL_SPLIT, has_split
    from ..eval.run import reference_for_export

    if not has_split(data, EVAL_SPLIT):
        log.warning(f"{data} has no '{EVAL_SPLIT}' split: no reference mAP recorded")
        return manifest
    t0 = time.perf_counter()
    ref = reference_for_export(manifest, data, split=EVAL_SPLIT,
                               trust_checkpoint=trust_checkpoint)
    log.info(f"reference mAP50-95 {100 * ref['map50_95']:.2f} (mAP50 {100 * ref['map50']:.2f}) on "
        f"{ref['data']['images']} '{EVAL_SPLIT}' images of {data}, recorded in the bundle")
    return manifest.replace(eval_reference=ref, timings_s={
        **manifest.timings_s, "eval_reference": round(time.perf_counter() - t0, 2)})


def build_runtimes(ctx: BuildContext, manifest: Manifest) -> Manifest:
    """Each target runtime builds its artifact into the bundle and records its section."""
    from ..runtimes import get_runtime

    for rt in ctx.profile.runtimes:
        built = get_runtime(rt).build(ctx)
        if built is not None:
            manifest = manifest.with_runtime(rt, built.section, artifact=built.artifact,
                                             timings=built.timings)
    return manifest


def self_parity(tmp: Path, manifest: Manifest, profile: Profile,
                final: Path | None = None) -> dict[str, Any]:
    from ..bundle import Bundle
    from ..parity.run import run_parity

    report = run_parity(Bundle(tmp, manifest), profile, list(profile.runtimes))
    # the bundle is checked while it is assembled; the report names where it will live
    report["bundle"] = str((final or tmp).resolve())
    (tmp / "parity.json").write_text(json.dumps(report, indent=2) + "\n")
    return report


def parity_record(report: dict[str, Any]) -> ParityRecord:
    """What the manifest keeps of a parity report: the verdict and where each backend
    first diverged."""
    return ParityRecord(passed=report["passed"],
                        first_divergent={b: r["first_divergent"]
                                         for b, r in report["backends"].items()})
