"""``edgekit export``: model -> verified bundle (ONNX, OpenVINO IR, TensorRT engine)."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .. import __version__
from .._lazy import require
from .._paths import check_writable_dir, disk_full_is_usage_error, tree_bytes
from ..bundle import (
    BundleWriter,
    Manifest,
    ParityRecord,
    Tap,
    load_bundle,
    refuse_existing,
    tap_tensors,
    write_manifest,
)
from ..errors import GateFailed, UsageError
from ..families import get_family
from ..models.preprocess import check_images, image_batch, image_provenance, list_images
from ..models.source import resolve_source
from .manifest import build_manifest, record_calibration_images, site_taps

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
    for rt in profile.runtimes:
        if rt.value == "tensorrt":
            require("tensorrt", extra="tensorrt",
                    purpose=f"profile {profile.name} (build TensorRT engines on the target GPU or "
                            "Jetson: export an ONNX bundle here, then run `edgekit export "
                            f"BUNDLE_DIR --profile {profile.name}` there)")
        elif rt.value == "openvino":
            require("openvino", extra="openvino", purpose=f"profile {profile.name}")
            if profile.precision.value == "int8":
                require("nncf", extra="openvino", purpose="INT8 quantization")
        elif rt.value == "onnxruntime":
            require("onnxruntime", extra="onnxruntime", purpose=f"profile {profile.name}")


def _check_out(out: Path) -> None:
    check_writable_dir(out, "--out")


def bundle_bytes(model: Any, profile: Profile, ref_inputs: np.ndarray) -> float:
    """Roughly what a bundle takes on disk: an fp32 copy of the weights per model file
    (the probe, model.onnx, and each runtime's own), and the reference (its inputs, with
    the outputs and taps about twice as much again)."""
    weights = 4 * sum(p.numel() for p in model.parameters())
    runtimes = [r.value for r in profile.runtimes]
    files = 2 + ("openvino" in runtimes) + ("tensorrt" in runtimes)
    if profile.precision.value == "int8":
        files += ("onnxruntime" in runtimes) + ("tensorrt" in runtimes)
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
    from ..eval.data import load_dataset
    from .calibration import EVAL_SPLIT, has_split

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
           data: str | None = None, fraction: float | None = None) -> ExportResult:
    """Build a bundle ``out_dir/<model>[-o2m]-<profile>-<imgsz>``. An existing bundle of that
    name is refused (exit 2) unless ``force``; then it is replaced once the new one is
    complete. ``end2end`` None exports a YOLO checkpoint's own head (see ``FamilySpec.choose_head``).
    ``data`` (an Ultralytics data.yaml): calibration images from its train split (the
    profile's count, or ``fraction`` of the split), and the PyTorch reference mAP on its val
    split recorded in the bundle, so a device without torch can gate on the drop."""
    if Path(model_spec).is_dir():
        return build_on_device(Path(model_spec), profile)
    _check_out(out_dir)
    src = resolve_source(model_spec, trust=trust_checkpoint)
    check_backends_available(profile)
    check_images(images)
    calib: str | list[Path] | None = images  # what calibrates: --images, or --data's picks
    calib_info: dict[str, Any] | None = None
    if data is not None:
        from .calibration import dataset_calibration

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
    ref_in, ref_labels = reference_inputs(imgsz, batch, images, seed, mode,
                                          held_out_images(data, images))
    notes = list(prep.notes)
    opset, opset_notes = onnx_x.choose_opset(lm.family, profile.opset)
    notes += opset_notes
    for n in notes:
        log.warning(n)
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
        onnx_x.export_probe(probe, example, probe_path, opset=opset, tap_names=out_names,
                            dynamic_batch=profile.batch.dynamic)
        graph = onnx.load(str(probe_path))
        probe_path.unlink()
        if profile.simplify:
            graph = onnx_x.simplify(graph)
        deployed, tap_map = onnx_x.strip_taps(graph, out_names)
        onnx_x.set_metadata(deployed, ultralytics_metadata(lm, imgsz, batch, profile.batch.dynamic))
        onnx.save(deployed, str(tmp / "model.onnx"))
        t_export = time.perf_counter() - t0

        # golden reference: PyTorch fp32 through the same probe, on the same inputs
        ref_arrays = reference_outputs(prep, ref_in)
        taps = site_taps(sites, tap_map, ref_arrays, deployed, fam.num_queries(lm.head))
        # compressed: the letterboxed images' padding and 8-bit levels shrink several-fold
        np.savez_compressed(tmp / "reference.npz", inputs=ref_in, **ref_arrays)
        manifest = build_manifest(src=src, lm=lm, profile=profile, opset=opset, taps=taps,
                                  out_shape=list(ref_arrays["output0"].shape[2:]),
                                  ref_labels=ref_labels, image_info=image_info, notes=notes,
                                  decorrelated=decorrelated, t_export=t_export)
        if parity:
            manifest = manifest.replace(onnx_check=_check_onnx_outputs(
                tmp, manifest, {**ref_arrays, "inputs": ref_in}, profile))
        if "openvino" in [r.value for r in profile.runtimes]:
            t1 = time.perf_counter()
            section = build_openvino(tmp, profile, deployed, taps, lm.family, calib)
            manifest = manifest.with_runtime(
                "openvino", section, artifact="openvino/model.xml",
                timings={"openvino": round(time.perf_counter() - t1, 2)})
        if "onnxruntime" in [r.value for r in profile.runtimes] \
                and profile.precision.value == "int8":
            t1 = time.perf_counter()
            section = build_ort_int8(tmp, profile, deployed, taps, lm.family, calib)
            manifest = manifest.with_runtime(
                "onnxruntime", section, artifact=ORT_INT8,
                timings={"onnxruntime_int8": round(time.perf_counter() - t1, 2)})
        if "tensorrt" in [r.value for r in profile.runtimes]:
            built = build_tensorrt(tmp, profile, taps, mode, calib)
            manifest = manifest.with_runtime("tensorrt", built["tensorrt"],
                                             artifact="tensorrt/model.engine")
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
                        data=data, fraction=fraction)
        parity_report = None
        if parity:
            parity_report = self_parity(tmp, manifest, profile, final=out_dir / name)
            manifest = manifest.replace(parity=parity_record(parity_report))
        manifest = write_manifest(tmp, manifest)
    result = ExportResult(out_dir / name, manifest, parity_report, notes)
    return result


def _profile_flags(profile: Profile) -> list[str] | None:
    """``--profile NAME`` plus the flags that turn the shipped profile NAME into ``profile``
    exactly; None when no such flags exist (a profile from a file, or edited fields)."""
    from ..profiles import list_profiles, load_profile, shipped_dirs

    known = list_profiles().get(profile.name)
    if known is None or known.parent not in shipped_dirs():
        return None
    base = load_profile(known)
    flags = ["--profile", profile.name, "--imgsz", str(profile.imgsz)]
    over: dict[str, Any] = {"imgsz": profile.imgsz}
    if profile.batch.size != base.batch.size:
        flags += ["--batch", str(profile.batch.size)]
        over["batch.size"] = profile.batch.size
    if profile.opset != base.opset and profile.opset is not None:
        flags += ["--opset", str(profile.opset)]
        over["opset"] = profile.opset
    if profile.runtime.threads != base.runtime.threads and profile.runtime.threads is not None:
        flags += ["--threads", str(profile.runtime.threads)]
        over["runtime.threads"] = profile.runtime.threads
    if profile.simplify != base.simplify:
        flags.append("--simplify" if profile.simplify else "--no-simplify")
        over["simplify"] = profile.simplify
    return flags if load_profile(known, over) == profile else None


PROFILE_COPY = "profile.yaml"


def write_reproduce(tmp: Path, src: Any, profile: Profile, *, seed: int, end2end: bool | None,
                    parity: bool, images: str | None, out_dir: Path, image_info: dict[str, Any],
                    data: str | None = None, fraction: float | None = None) -> None:
    """``reproduce.sh``: the export command with every option that shaped the bundle, shell
    quoted. A profile that no shipped name plus flags gives is copied into the bundle."""
    import shlex

    model = src.spec if src.path is None else str(src.path)  # a shipped YAML name, else a file
    flags = _profile_flags(profile)
    profile_arg = ""
    if flags is None:
        import yaml

        (tmp / PROFILE_COPY).write_text(yaml.safe_dump(profile.model_dump(mode="json"),
                                                       sort_keys=False))
        profile_arg = f' --profile "$(dirname "$0")/{PROFILE_COPY}"'
        flags = []
    flags += ["--seed", str(seed)]
    if end2end is not None:  # the YOLO head exported (None: not a YOLO model)
        flags.append("--end2end" if end2end else "--no-end2end")
    if not parity:
        flags.append("--no-parity")
    if images is not None:
        flags += ["--images", str(Path(images).resolve())]
    if data is not None:
        flags += ["--data", str(Path(data).resolve())]
    if fraction is not None:
        flags += ["--fraction", repr(fraction)]
    flags += ["--out", str(out_dir.resolve())]
    inputs = ("the sample images shipped with ultralytics" if image_info["dir"] is None
              else json.dumps(image_info["dir"]))  # escaped: a comment stays one line
    (tmp / "reproduce.sh").write_text(
        "#!/bin/sh\n"
        "# Re-create this bundle. Arguments are passed on: --out DIR to build it elsewhere,\n"
        "# --force to replace it in place.\n"
        f"# Inputs: {inputs} ({len(image_info['files'])} image(s), list sha256 "
        f"{image_info['sha256'][:16]}..., see manifest.json 'images').\n"
        f"exec edgekit export {shlex.quote(model)}{profile_arg} {shlex.join(flags)} \"$@\"\n")


def _record_eval_reference(manifest: Manifest, data: str,
                           trust_checkpoint: bool = False) -> Manifest:
    """``export --data``: the PyTorch reference mAP on the dataset's val split, recorded so
    ``edgekit eval`` can gate on the drop where torch is not installed."""
    from ..eval.run import reference_for_export
    from .calibration import EVAL_SPLIT, has_split

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


def ultralytics_metadata(lm: Any, imgsz: int, batch: int, dynamic: bool) -> dict[str, str]:
    """Metadata in the form Ultralytics' AutoBackend reads, so `YOLO("model.onnx")` (or
    `RTDETR(...)`) and `yolo predict` can load the bundle's ONNX directly."""
    head = lm.head
    end2end = get_family(lm.family).output_format(head).ultralytics_end2end
    meta = {
        "description": f"edgekit export of {lm.source.spec}",
        "author": "edgekit", "version": __version__,
        "stride": int(max(lm.model.stride)), "task": "detect", "head": type(head).__name__,
        "batch": batch, "imgsz": [imgsz, imgsz], "names": dict(lm.names),
        "args": {"batch": batch, "half": False, "int8": False, "dynamic": dynamic, "nms": False},
        "channels": 3, "end2end": end2end,
    }
    return {k: str(v) for k, v in meta.items()}


def _check_onnx_outputs(tmp: Path, manifest: Manifest, ref: dict[str, np.ndarray],
                        profile: Profile) -> dict[str, Any]:
    """Before anything else is built: the ONNX's final output against PyTorch (what the
    manifest records as ``onnx_check``)."""
    from .._lazy import available
    from ..parity.run import tolerance_fn
    from ..parity.verdict import compare_output
    from ..runtimes import get_runner

    backend = "onnxruntime" if available("onnxruntime") else "openvino"
    runner = get_runner(backend, tmp / "model.onnx")
    with runner:
        outs = [runner.infer({"images": x})[runner.output_names[0]] for x in ref["inputs"]]
    tol = tolerance_fn(profile, "fp32")("output")
    res = compare_output(ref["output0"], np.stack(outs), manifest.output.format,
                         manifest.input.imgsz, tol, 0.25,
                         random_weights=manifest.source.random_weights)
    if res["status"] == "fail":
        raise GateFailed("the exported ONNX does not reproduce PyTorch's output: "
                         + "; ".join(res["reasons"]))
    if res["status"] != "pass":
        # never a pass: the export goes on, and parity's output0 check fails the gate
        log.warning(f"onnx check ({backend}): output0 {'; '.join(res['reasons'])}")
        return {"backend": backend, **res}
    d = res["detections"]
    log.info(f"onnx check ({backend}): output matches PyTorch ({d['matched']} detections matched, "
        f"max box shift {d['max_box_shift_px']:.3f}px)")
    return {"backend": backend, **res}


#: what a per-site float level keeps (op types within the site's exact region; None = all)
SITE_LEVELS: dict[str, tuple[str, ...] | None] = {
    "softmax": ("Softmax",),
    "core": ("Softmax", "MatMul"),
    "all": None,
}


def float_scope(deployed: Any, taps: list[Tap], items: list[str],
                float_sites: dict[str, str] | None = None,
                float_blocks: list[str] | None = None) -> tuple[list[str], list[str], list[str]]:
    """ONNX node names, tensor names and op types to keep in float, per float-scope item,
    per site (``{"model.10.m.0.attn": "all" | "softmax"}``) and per top-level block."""
    from ..errors import UsageError
    from .openvino import SCOPE_TYPES
    from .regions import GraphIndex, blocks

    gi = GraphIndex(deployed)
    idx: set[int] = set()
    if float_blocks:
        per = blocks(gi)
        for b in float_blocks:
            if b not in per:
                raise UsageError(f"float_blocks: '{b}' is not a block of this model "
                                 f"(blocks: {', '.join(per)})")
            idx |= per[b]
    by_name = {t.name: t for t in taps if t.kind != "queries"}
    if "attention" in items:
        for t in by_name.values():
            idx |= gi.region(t.tensor, t.inputs)
    for site, what in (float_sites or {}).items():
        if site not in by_name:
            raise UsageError(f"float_sites: '{site}' is not an attention site of this model "
                             f"(sites: {', '.join(by_name)})")
        region = gi.region(by_name[site].tensor, by_name[site].inputs)
        keep = SITE_LEVELS[what]
        idx |= region if keep is None else {i for i in region if gi.nodes[i].op_type in keep}
    if "decoder" in items:
        q = [t for t in taps if t.kind == "queries"]
        if q:
            idx |= gi.descendants([q[0].tensor])
    node_names = gi.names(idx)
    tensors = [o for i in sorted(idx) for o in gi.nodes[i].output]
    onnx_types = {ot for item in items if item in SCOPE_TYPES for ot in SCOPE_TYPES[item][0]}
    ov_types = sorted({vt for item in items if item in SCOPE_TYPES for vt in SCOPE_TYPES[item][1]})
    if "score_sigmoid" in items:
        # the final score Sigmoid(s): Sigmoid nodes that feed the output without passing a Conv
        out_anc = gi.ancestors(["output0"])
        for i in out_anc:
            n = gi.nodes[i]
            if n.op_type == "Sigmoid" and not any(gi.nodes[j].op_type == "Conv"
                                                  for j in gi.descendants(list(n.output))):
                node_names.append(n.name)
                tensors += list(n.output)
    node_names += [n.name for n in gi.nodes if n.op_type in onnx_types]
    return sorted(set(node_names)), sorted(set(tensors)), ov_types


def build_openvino(tmp: Path, profile: Profile, deployed: Any, taps: list[Tap],
                   family: str, images: str | list[Path] | None) -> dict[str, Any]:
    from ..precision import plain_client_precisions
    from . import openvino as ovx

    xml = tmp / "openvino" / "model.xml"
    prec = profile.precision.value
    policy = profile.float_policy
    model = ovx.convert(tmp / "model.onnx", keep_tensors=tap_tensors(taps))
    if prec != "int8":
        marks = ovx.save(model, xml, fp16=prec == "fp16", policy=policy)
        log.info(f"openvino: IR ({prec}, float parts at {policy}) converted from model.onnx")
        info = {"precision": prec, "converted_from": "model.onnx", "float_precision": marks}
    else:
        info = quantize_ir(model, deployed, taps, profile.calibration,
                           calibration_batch(profile, get_family(family).resize, images), xml,
                           policy=policy)
    # what a plain client (compile_model, no config; benchmark_app) runs the IR at, here
    plain = plain_client_precisions(xml)
    info["plain_client"] = {**plain, "reduced": len(plain["reduced"]),
                            "reduced_examples": plain["reduced"][:5]}
    if policy == "f32" and plain["reduced"]:
        log.info(f"openvino: {len(plain['reduced'])} float ops still run at reduced precision "
                 f"under a plain compile_model here ({plain['default_hint']} default), e.g. "
                 f"{plain['reduced'][0]}; edgekit's runners pin f32")
    return info


def calibration_batch(profile: Profile, mode: str,
                      images: str | list[Path] | None = None) -> np.ndarray:
    """The profile's calibration images, resized the way the model family is fed."""
    cal = profile.calibration
    return image_batch(list_images(cal.images or images), profile.imgsz, count=cal.count,
                       mode=mode)


def calibration_scope(deployed: Any, taps: list[Tap],
                      cal: Any) -> tuple[list[str], list[str], list[str]]:
    """:func:`float_scope` of a profile's calibration section."""
    return float_scope(deployed, taps, list(cal.float_scope), dict(cal.float_sites),
                       list(cal.float_blocks))


#: where an INT8 ONNX Runtime model lives in a bundle (model.onnx stays the portable fp32)
ORT_INT8 = "onnxruntime/model.int8.onnx"


def build_ort_int8(tmp: Path, profile: Profile, deployed: Any, taps: list[Tap],
                   family: str, images: str | list[Path] | None) -> dict[str, Any]:
    return quantize_ort(tmp / "model.onnx", deployed, taps, profile.calibration,
                        calibration_batch(profile, get_family(family).resize, images),
                        tmp / ORT_INT8)


def quantize_ort(src: Path, deployed: Any, taps: list[Tap], cal: Any,
                 calib: np.ndarray, dst: Path) -> dict[str, Any]:
    """ONNX Runtime static INT8 (QDQ) of the bundle's ONNX with the calibration's float scope."""
    from .ort_quant import quantize_static_qdq

    nodes, _tensors, _ov_types = calibration_scope(deployed, taps, cal)
    scope = describe_scope(cal.float_scope, cal.float_sites, cal.float_blocks)
    log.info(f"onnxruntime int8: static QDQ on {len(calib)} images, keeping {len(nodes)} nodes in "
        f"float ({', '.join(scope) or 'nothing'})")
    info = quantize_static_qdq(src, dst, calib, exclude_nodes=nodes)
    return {"precision": "int8", "quantized_from": "model.onnx", **info,
            "float_scope": list(cal.float_scope), "float_sites": dict(cal.float_sites),
            "float_blocks": list(cal.float_blocks)}


def describe_scope(items: Sequence[str], sites: Mapping[str, str],
                   blocks: Sequence[str]) -> list[str]:
    """A float scope as short labels, for logs and reports."""
    labels = list(items) + [f"{k}:{v}" for k, v in sites.items()]
    if blocks:
        nums = sorted(int(b.split(".")[1]) for b in blocks)
        runs: list[str] = []
        for n in nums:
            if runs and runs[-1].split("-")[-1] == str(n - 1):
                runs[-1] = f"{runs[-1].split('-')[0]}-{n}"
            else:
                runs.append(str(n))
        labels.append(f"block{'s' if len(nums) > 1 else ''} model.{','.join(runs)}")
    return labels


def quantize_ir(model: Any, deployed: Any, taps: list[Tap], cal: Any,
                calib: np.ndarray, xml: Path, policy: str = "f32") -> dict[str, Any]:
    """NNCF INT8 of an ov.Model with the calibration's float scope; saves the IR with the
    float ``policy`` in it (edgekit/precision.py: an f32 float scope stays f32 for a plain
    client on a bf16 CPU)."""
    from . import openvino as ovx

    nodes, tensors, ov_types = calibration_scope(deployed, taps, cal)
    names = ovx.ov_names_for(model, nodes, tensors)
    scope = describe_scope(cal.float_scope, cal.float_sites, cal.float_blocks)
    log.info(f"openvino int8: NNCF (transformer, {cal.preset}) on {len(calib)} images, keeping "
        f"{len(names)} ops in float ({', '.join(scope) or 'nothing'})")
    q = ovx.quantize_int8(model, calib, ignored_names=names, ignored_types=ov_types,
                          preset=cal.preset)
    marks = ovx.save(q, xml, policy=policy)
    fq = sum(1 for op in q.get_ops() if op.get_type_name() == "FakeQuantize")
    return {"precision": "int8", "converted_from": "model.onnx",
            "nncf": {"model_type": "transformer", "preset": cal.preset,
                     "subset_size": len(calib), "float_scope": list(cal.float_scope),
                     "float_sites": dict(cal.float_sites),
                     "float_blocks": list(cal.float_blocks),
                     "ignored_ops": len(names), "ignored_types": ov_types,
                     "fake_quantize_ops": fq},
            "float_precision": marks}


def prepare_tensorrt(bundle_dir: Path, profile: Profile, taps: list[Tap],
                     mode: str = "letterbox", major: int | None = None,
                     images: str | list[Path] | None = None) -> tuple[Any, dict[str, Any]]:
    """See :func:`edgekit.export.tensorrt.bundle.prepare_tensorrt`."""
    from .tensorrt.bundle import prepare_tensorrt as prepare

    return prepare(bundle_dir, profile, taps, mode, major, images)


def build_tensorrt(bundle_dir: Path, profile: Profile, taps: list[Tap],
                   mode: str = "letterbox",
                   images: str | list[Path] | None = None) -> dict[str, Any]:
    from .tensorrt.bundle import build_tensorrt as build

    return build(bundle_dir, profile, taps, mode, images)


def self_parity(tmp: Path, manifest: Manifest, profile: Profile,
                final: Path | None = None) -> dict[str, Any]:
    from ..bundle import Bundle
    from ..parity.run import run_parity

    backends = [r.value for r in profile.runtimes]
    report = run_parity(Bundle(tmp, manifest), profile, backends)
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


def build_on_device(bundle_dir: Path, profile: Profile) -> ExportResult:
    """Build the TensorRT engine of an existing bundle here, from its ONNX, without torch."""
    import shutil

    if [r.value for r in profile.runtimes] != ["tensorrt"]:
        raise UsageError("building into an existing bundle is for TensorRT profiles "
                         f"(engines are not portable); {profile.name} targets "
                         f"{', '.join(r.value for r in profile.runtimes)}")
    bundle = load_bundle(bundle_dir)
    check_backends_available(profile)
    check_writable_dir(bundle_dir.parent, "the bundle's folder")
    from .tensorrt.bundle import reconcile_profile

    profile = reconcile_profile(profile, bundle.manifest)
    # a copy of the bundle, and an engine about the size of its ONNX
    need = tree_bytes(bundle_dir) + (bundle_dir / "model.onnx").stat().st_size
    with disk_full_is_usage_error(bundle_dir.parent, lambda: need), \
            BundleWriter(bundle_dir, force=True) as tmp:  # the engine is added in place
        for p in bundle_dir.iterdir():
            if p.name != "manifest.json":
                (shutil.copytree if p.is_dir() else shutil.copy2)(p, tmp / p.name)
        built = build_tensorrt(tmp, profile, bundle.taps, bundle.manifest.input.resize.mode)
        manifest = bundle.manifest.with_runtime("tensorrt", built["tensorrt"],
                                                artifact="tensorrt/model.engine")
        manifest = write_manifest(tmp, manifest.replace(device_profile=profile))
    return ExportResult(bundle_dir, manifest)
