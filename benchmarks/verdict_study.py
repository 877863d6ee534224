"""Which parity verdict agrees with the mAP a quantized build actually loses?

For each trained checkpoint this builds OpenVINO INT8 variants (profile intel-cpu-int8):
the default build, builds made harmful on purpose (calibrated on black images, the score
Sigmoid quantized, RT-DETR's decoder quantized) and one with nothing kept in float. For each
it measures

* the mAP50-95 drop on the val split (``edgekit.eval.run.run_eval``, OpenVINO against the
  PyTorch reference the ``--data`` export records);
* today's parity verdict (the export's self-parity: pass/fail and first divergent);
* candidate verdict metrics over more reference inputs (the bundle's 3 plus ``--images`` val
  images): per attention site cosine and SQNR (worst and median over images), the site's
  error relative to the residual stream it is added into, the residual stream's own error
  after the add (introduced plus inherited), the error introduced against the error
  inherited at the site's input, and a label-free agreement mAP (PyTorch fp32 detections
  at conf 0.25 on the same images as labels);

and, per candidate, whether one threshold passes every build with drop <= 1 point and fails
every build with drop >= 3 points. Writes ``benchmarks/results/verdict_study.{json,md}``.

    PYTHONPATH=. python benchmarks/verdict_study.py                      # the test pair, 160 px
    PYTHONPATH=. python benchmarks/verdict_study.py --checkpoints yolo26n-test yolo26n-bench
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from edgekit.bundle import Tap

RESULTS = Path(__file__).resolve().parent / "results"
IMGSZ = {"test": 160, "bench": 320}
PASS_DROP, FAIL_DROP = 1.0, 3.0  # mAP50-95 points: the pass and fail bounds
LABEL_CONF = 0.25  # fp32 detections at or above this are the agreement mAP's labels
BASE_SCOPE = ["attention", "decoder", "softmax", "layernorm", "gridsample", "topk",
              "score_sigmoid"]


#: calibration on the train images darkened by these factors: a dose-response ladder between
#: the default build (1) and black images (0), for builds in between "keeps mAP" and "harmful"
DIM = (0.5, 0.25, 0.1)


def variants(family: str, black: Path,
             dim: dict[float, Path]) -> list[tuple[str, str, dict[str, Any], bool]]:
    """(name, intent, profile overrides, calibrate on --data's train split)."""
    out = [("default", "good", {}, True),
           ("black-calibration", "harmful",
            {"calibration.images": str(black), "calibration.count": 8}, False)]
    out += [(f"dim-{f:g}-calibration", "graded", {"calibration.images": str(folder)}, False)
            for f, folder in dim.items()]
    out += [
           ("one-image-calibration", "graded", {"calibration.count": 1}, True),
           ("score-sigmoid-int8", "harmful",
            {"calibration.float_scope": [s for s in BASE_SCOPE if s != "score_sigmoid"]}, True)]
    if family == "rtdetr":
        out.append(("decoder-int8", "harmful",
                    {"calibration.float_scope": [s for s in BASE_SCOPE if s != "decoder"]}, True))
    out.append(("all-int8", "data point", {"calibration.float_scope": []}, True))
    return out


def trained(name: str) -> Any:
    """The cached checkpoint of recipe ``name``. The cache key includes the model YAML's
    path, so a checkout elsewhere (a worktree) misses an RT-DETR entry trained from another
    checkout; an entry with the same recipe and the same YAML text is the same model, and
    is used instead of training again."""
    from edgekit.errors import UsageError
    from edgekit.zoo import train

    recipe = train.RECIPES[name]
    mine = recipe.to_dict()
    text = train._model_text(recipe.model)
    for entry in sorted(train.cache_root().glob(f"{name}-*")):
        try:
            theirs = json.loads((entry / "recipe.json").read_text())["recipe"]
            same_yaml = train._model_text(theirs["model"]) == text
        except (OSError, ValueError, KeyError, UsageError):  # half-written or foreign entry
            same_yaml = False
        if same_yaml and {k: v for k, v in theirs.items() if k != "model"} == \
                {k: v for k, v in mine.items() if k != "model"}:
            ck = train._load(entry)
            if ck is not None:
                return ck
    return train.checkpoint(name)  # trains it (minutes) when no entry fits


def dimmed_images(folder: Path, data: Path, factor: float, count: int) -> Path:
    """The train images --data would calibrate on, their pixels scaled by ``factor``."""
    import cv2

    from edgekit.eval.calibration import dataset_calibration

    folder.mkdir(parents=True, exist_ok=True)
    for p in dataset_calibration(data, count=count)[0]:
        img = cv2.imread(str(p))
        cv2.imwrite(str(folder / (p.stem + ".png")), (img.astype(np.float32) * factor).round()
                    .astype(np.uint8))
    return folder


def black_images(folder: Path, n: int = 8, size: int = 320) -> Path:
    import cv2

    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        cv2.imwrite(str(folder / f"black{i}.png"), np.zeros((size, size, 3), np.uint8))
    return folder


def extended_inputs(bundle: Any, data: Path, n_val: int) -> tuple[np.ndarray, list[str]]:
    """The bundle's reference inputs followed by the first ``n_val`` val images, fed the way
    the model family is fed."""
    from edgekit.eval.data import load_dataset
    from edgekit.models.preprocess import read_image, to_input
    from edgekit.parity.run import load_reference

    m = bundle.manifest
    ref_in = load_reference(bundle)["inputs"]
    mode = m.input.resize.mode
    ds = load_dataset(data, "val", max_images=n_val)
    val = [to_input(read_image(s.image), m.input.imgsz, mode)[0] for s in ds.samples]
    labels = list(m.reference.inputs) + [s.image.name for s in ds.samples]
    return np.concatenate([ref_in, np.stack(val).astype(np.float32)]), labels


def torch_reference(bundle: Any, inputs: np.ndarray) -> dict[str, np.ndarray]:
    """PyTorch fp32 site, boundary and output0 tensors on ``inputs`` (as parity's
    ``--reference``, on more inputs)."""
    from edgekit.models.reference import prepare, reference_outputs
    from edgekit.models.source import resolve_source

    m = bundle.manifest
    src = resolve_source(m.source.path, trust=True)
    prep = prepare(src, imgsz=m.input.imgsz, seed=m.source.seed or 0,
                   end2end=m.output.format != "yolo_raw", dynamic=False, images=None,
                   example=inputs[0])
    return reference_outputs(prep, inputs)


def _rel(o: np.ndarray, r: np.ndarray, denom: float) -> float:
    return float(np.linalg.norm((o - r).ravel().astype(np.float64)) / max(denom, 1e-12))


def _norm(a: np.ndarray) -> float:
    return float(np.linalg.norm(np.asarray(a, np.float64).ravel()))


def site_metrics(taps: list[Tap], ref: dict[str, np.ndarray],
                 got: dict[str, np.ndarray], qtol: float) -> dict[str, dict[str, list[float]]]:
    """Per attention site, per image: cosine, SQNR (dB), the site's error relative to the
    residual stream it is added into, that stream's own error after the add, and the error at
    the site's input (inherited). Decoder sites are compared query by query after aligning
    the runtime's query order to the reference's, as parity does."""
    from edgekit.parity import align
    from edgekit.parity.metrics import cosine
    from edgekit.parity.verdict import _query_perms

    perms = _query_perms(taps, ref, got, qtol)
    out: dict[str, dict[str, list[float]]] = {}
    for tap in taps:
        if tap.kind == "queries":
            continue
        name, qaxis = tap.name, tap.query_axis
        rows: dict[str, list[float]] = {k: [] for k in (
            "cosine", "sqnr_db", "res_rel_site", "res_rel_stream", "in_rel", "out_rel")}
        # the residual stream: the site input of the output's shape (x in x + attn(x))
        res_i = next((i for i, rn in enumerate(tap.input_refs or [])
                      if rn in ref and ref[rn].shape == ref[name].shape), None)
        in_axes = tap.input_query_axes or [None] * len(tap.inputs)
        for k in range(ref[name].shape[0]):
            r, o = ref[name][k], got[tap.tensor][k]

            def aligned(arr: np.ndarray, axis: int | None,
                        k: int = k) -> tuple[np.ndarray, np.ndarray | None]:
                if perms is None or axis is None:
                    return arr, None
                return align.apply(arr, perms[k], axis)

            o, valid = aligned(o, qaxis)
            rk = r
            if valid is not None:
                if not valid.any():  # no query in common: nothing to compare on this image
                    for vals in rows.values():
                        vals.append(float("nan"))
                    continue
                rk, o = np.compress(valid, r, axis=qaxis), np.compress(valid, o, axis=qaxis)
            err = _norm(o - rk)
            rows["cosine"].append(cosine(o, rk))
            rows["sqnr_db"].append(10 * math.log10(max(_norm(rk) ** 2, 1e-30)
                                                   / max(err ** 2, 1e-30)))
            rows["out_rel"].append(err / max(_norm(rk), 1e-12))
            if res_i is not None:
                rname, tname = tap.input_refs[res_i], tap.inputs[res_i]
                xr, xo = ref[rname][k], got[tname][k]
                xo, v2 = aligned(xo, in_axes[res_i])
                if valid is not None and v2 is not None:
                    xr = np.compress(valid, xr, axis=qaxis)
                    xo = np.compress(valid, xo, axis=qaxis)
                stream = _norm(xr + rk)
                rows["res_rel_site"].append(err / max(stream, 1e-12))
                rows["res_rel_stream"].append(_rel(xo + o, xr + rk, stream))
                rows["in_rel"].append(_rel(xo, xr, _norm(xr)))
            for vals in rows.values():  # one entry per image (NaN: not measured)
                vals.extend([float("nan")] * (k + 1 - len(vals)))
        out[name] = rows
    return out


def agreement_map(ref_out: np.ndarray, got_out: np.ndarray, fmt: str, imgsz: int,
                  names: dict[int, str]) -> float | None:
    """mAP50-95 (points) of the runtime's detections scored against the fp32 model's
    detections (conf >= LABEL_CONF) on the same inputs taken as labels: no labels needed."""
    from edgekit.coco import coco_map
    from edgekit.parity.detections import decode

    gt, preds = [], []
    for k in range(ref_out.shape[0]):
        r = decode(ref_out[k], fmt, imgsz, conf=LABEL_CONF)[0]
        o = decode(np.nan_to_num(got_out[k]), fmt, imgsz, conf=0.001)[0]
        gt.append(((imgsz, imgsz), r.classes.astype(int), r.boxes))
        preds.append((o.boxes, o.scores, o.classes.astype(int)))
    res = coco_map(gt, preds, names)
    return None if res["map50_95"] is None else 100 * res["map50_95"]


def splice_recovery(bundle: Any, profile: Any, taps: list[Tap], inputs: np.ndarray,
                    ref: dict[str, np.ndarray], got: dict[str, np.ndarray], qtol: float,
                    base_drop: float, work: Path) -> dict[str, dict[str, float]]:
    """The counterfactual: for each attention site, the quantized build run again with that
    site's output replaced by PyTorch's (fed in through a new model input), and how much of
    the build's agreement-mAP drop that recovers. Decoder sites get the reference's query
    rows put where the runtime placed the matching queries (the runtime's own rows where no
    query matches)."""
    import openvino as ov
    import openvino.opset13 as ops

    from edgekit.parity.verdict import _query_perms
    from edgekit.runtimes import RunnerSettings, get_runner

    m = bundle.manifest
    fmt, imgsz = m.output.format, m.input.imgsz
    names = {int(k): v for k, v in m.names.items()}
    agree_ref = agreement_map(ref["output0"], ref["output0"], fmt, imgsz, names)
    perms = _query_perms(taps, ref, got, qtol)
    core = ov.Core()
    out: dict[str, dict[str, float]] = {}
    for tap in taps:
        if tap.kind == "queries":
            continue
        model = core.read_model(str(bundle.artifact("openvino")))
        port = next((o for op in model.get_ordered_ops() for o in op.outputs()
                     if tap.tensor in o.get_names()), None)
        if port is None:
            continue
        param = ops.parameter(port.get_partial_shape(), port.get_element_type(), "splice")
        param.output(0).get_tensor().set_names({"splice"})
        for target in list(port.get_target_inputs()):
            target.replace_source_output(param.output(0))
        model.add_parameters([param])
        xml = work / "splice.xml"
        ov.save_model(model, str(xml), compress_to_fp16=False)
        feeds = []
        qaxis = tap.query_axis
        for k in range(inputs.shape[0]):
            r = ref[tap.name][k]
            if perms is not None and qaxis is not None:
                o = np.moveaxis(got[tap.tensor][k].copy(), qaxis, 0)
                rr = np.moveaxis(r, qaxis, 0)
                for i, j in enumerate(perms[k]):
                    if j >= 0:
                        o[j] = rr[i]
                r = np.moveaxis(o, 0, qaxis)
            feeds.append(r)
        runner = get_runner("openvino", xml, settings=RunnerSettings.from_profile(profile))
        outs = []
        with runner:
            for k in range(inputs.shape[0]):
                res = runner.infer({"images": inputs[k], "splice": feeds[k]})
                outs.append(np.asarray(res[runner.output_names[0]]))
        agree = agreement_map(ref["output0"], np.stack(outs), fmt, imgsz, names)
        drop = agree_ref - agree
        out[tap.name] = {"agreement_drop": drop,
                            "recovered_frac": (base_drop - drop) / base_drop
                            if base_drop > 1e-9 else 0.0}
    return out


def summarize(sites: dict[str, dict[str, list[float]]], keep: np.ndarray) -> dict[str, Any]:
    """Per site: worst and median over the images ``keep`` selects; per build: the worst
    site of each."""
    per_site: dict[str, dict[str, float]] = {}
    for name, all_rows in sites.items():
        s: dict[str, float] = {}
        rows = {k: [v for v, ok in zip(vals, keep) if ok and not math.isnan(v)]
                for k, vals in all_rows.items()}
        for key, vals in rows.items():
            if not vals:
                continue
            worst = min if key in ("cosine", "sqnr_db") else max
            s[f"{key}_worst"] = float(worst(vals))
            s[f"{key}_median"] = float(np.median(vals))
        o, i = rows["out_rel"], rows["in_rel"]
        if i:
            # introduced against inherited: how much the site adds to the error it receives
            s["introduced_over_inherited_median"] = float(np.median(
                [a / max(b, 1e-9) for a, b in zip(o, i)]))
        per_site[name] = s
    build: dict[str, Any] = {}
    keys = {k for s in per_site.values() for k in s}
    for key in sorted(keys):
        vals = [(s[key], n) for n, s in per_site.items() if key in s]
        lower_is_worse = key.startswith(("cosine", "sqnr_db"))
        v, n = (min if lower_is_worse else max)(vals)
        build[key] = {"value": v, "site": n}
    return {"per_site": per_site, "worst_site": build}


def measure_build(bundle_dir: Path, profile: Any, data: Path, ref: dict[str, np.ndarray],
                  inputs: np.ndarray, labels: list[str], torch_map: float) -> dict[str, Any]:
    from edgekit.bundle import load_bundle, tap_tensors
    from edgekit.eval.run import EvalConfig, run_eval
    from edgekit.parity.run import tolerance_fn
    from edgekit.parity.verdict import compare_backend
    from edgekit.runtimes import RunnerSettings, get_runner, run_backend

    bundle = load_bundle(bundle_dir)
    m = bundle.manifest
    ev = run_eval(bundle_dir, data, EvalConfig(backends=["openvino"], reference="none"))
    ov_map = ev["backends"]["openvino"]["map50_95"] * 100
    tensors = tap_tensors(bundle.taps)
    runner = get_runner("openvino", bundle.artifact("openvino"), extra_outputs=tensors,
                        settings=RunnerSettings.from_profile(profile))
    got = run_backend(runner, inputs, tensors)
    tol = tolerance_fn(profile, "int8")
    today_ext = compare_backend("openvino", "x", taps=bundle.taps, ref=ref, got=got,
                                tolerance=tol, output_format=m.output.format,
                                imgsz=m.input.imgsz)
    names = {int(k): v for k, v in m.names.items()}
    fmt, imgsz = m.output.format, m.input.imgsz
    agree_ref = agreement_map(ref["output0"], ref["output0"], fmt, imgsz, names)
    agree = agreement_map(ref["output0"], got["output0"], fmt, imgsz, names)
    sites = site_metrics(bundle.taps, ref, got, max(0.05, 2 * tol("queries").max_rel_l2))
    # the seeded noise input is no image: its attention maps are near-degenerate and its
    # cosine swings without any effect on detections, so the candidates read images only
    real = np.array([not lb.startswith("random(") for lb in labels])
    splice = splice_recovery(bundle, profile, bundle.taps, inputs, ref, got,
                             max(0.05, 2 * tol("queries").max_rel_l2),
                             agree_ref - agree, Path(bundle_dir).parent)
    best = max(splice.items(), key=lambda kv: kv[1]["recovered_frac"], default=None)
    parity = m.parity
    return {
        "map50_95": ov_map, "torch_map50_95": torch_map, "drop": torch_map - ov_map,
        "today": {"passed": parity.passed if parity else None,
                  "first_divergent": parity.first_divergent.get("openvino") if parity else None},
        "today_on_extended_inputs": {"passed": today_ext.passed,
                                     "first_divergent": today_ext.first_divergent},
        "agreement_map50_95": agree, "agreement_self": agree_ref,
        "agreement_drop": None if agree is None else agree_ref - agree,
        "fake_quantize_ops": m.runtime("openvino")["nncf"]["fake_quantize_ops"],
        "splice": splice,
        "splice_best": None if best is None else {"site": best[0], **best[1]},
        **summarize(sites, real),
        "with_random_input": summarize(sites, np.ones_like(real))["worst_site"],
    }


#: build-level candidates: (key, label, True when a larger value is worse)
CANDIDATES = [
    ("cosine_worst", "site cosine, worst image", False),
    ("cosine_median", "site cosine, median image", False),
    ("sqnr_db_worst", "site SQNR dB, worst image", False),
    ("sqnr_db_median", "site SQNR dB, median image", False),
    ("res_rel_site_worst", "site error / residual stream, worst image", True),
    ("res_rel_site_median", "site error / residual stream, median image", True),
    ("res_rel_stream_worst", "residual stream error after the add, worst image", True),
    ("res_rel_stream_median", "residual stream error after the add, median image", True),
    ("introduced_over_inherited_median", "site error introduced / inherited, median", True),
    ("agreement_drop", "label-free agreement mAP drop (points)", True),
]


def candidate_value(row: dict[str, Any], key: str) -> float | None:
    if key == "agreement_drop":
        return row.get("agreement_drop")
    w = row["worst_site"].get(key)
    return None if w is None else w["value"]


def separation(rows: list[dict[str, Any]], key: str, worse_high: bool) -> dict[str, Any]:
    """Does a threshold pass every build with drop <= PASS_DROP and fail every one with
    drop >= FAIL_DROP? Measured over the rows given."""
    good = [candidate_value(r, key) for r in rows if r["drop"] <= PASS_DROP]
    bad = [candidate_value(r, key) for r in rows if r["drop"] >= FAIL_DROP]
    good = [v for v in good if v is not None]
    bad = [v for v in bad if v is not None]
    if not good or not bad:
        return {"separates": None, "why": "no builds on one side", "good": good, "bad": bad}
    sgn = 1 if worse_high else -1  # oriented so that larger = worse
    g, b = max(sgn * v for v in good), min(sgn * v for v in bad)
    sep = g < b
    thr = sgn * (g + b) / 2 if sep else None
    return {"separates": sep, "threshold": thr, "worst_passing": sgn * g,
            "best_failing": sgn * b, "direction": "fail above" if worse_high else "fail below",
            "good": good, "bad": bad}


def build_variant(ck: Any, name: str, vname: str, imgsz: int, overrides: dict[str, Any],
                  use_data: bool, work: Path) -> tuple[Any, Any]:
    """The intel-cpu-int8 profile with ``overrides`` and the bundle it exports from
    checkpoint ``ck`` (with ``--data`` when ``use_data``)."""
    from edgekit.export.pipeline import export
    from edgekit.profiles import load_profile

    prof = load_profile("intel-cpu-int8", {"imgsz": imgsz, **overrides})
    res = export(str(ck.path), prof, work / f"{name}-{vname}",
                 data=str(ck.data) if use_data else None, trust_checkpoint=True,
                 )
    return prof, res


def run_checkpoint(name: str, work: Path, n_val: int, only: list[str] | None = None,
                   log: Any = print) -> Iterator[dict[str, Any]]:
    """One row per variant. The default build comes first: its --data export records the
    PyTorch reference mAP every row's drop is measured against."""
    from edgekit.bundle import load_bundle
    from edgekit.profiles import load_profile
    ck = trained(name)
    imgsz = IMGSZ[name.rsplit("-", 1)[-1]]
    family = "rtdetr" if "rtdetr" in name else "yolo"
    black = black_images(work / "black", size=imgsz)
    ref = inputs = labels = None
    torch_map = None
    count = load_profile("intel-cpu-int8").calibration.count
    dim = {f: dimmed_images(work / f"{name}-dim{f:g}", ck.data, f, count) for f in DIM}
    for vname, intent, overrides, use_data in variants(family, black, dim):
        if only and vname not in only and vname != "default":
            continue
        log(f"== {name} {vname}")
        prof, res = build_variant(ck, name, vname, imgsz, overrides, use_data, work)
        if ref is None:
            bundle = load_bundle(res.bundle)
            inputs, labels = extended_inputs(bundle, ck.data, n_val)
            ref = torch_reference(bundle, inputs)
            torch_map = res.manifest.eval_reference["map50_95"] * 100
        row = {"checkpoint": name, "variant": vname, "intent": intent, "imgsz": imgsz,
               "overrides": overrides,
               "calibration": "train split (--data)" if use_data else Path(overrides[
                   "calibration.images"]).name,
               "reference_inputs": labels,
               **measure_build(res.bundle, prof, ck.data, ref, inputs, labels, torch_map)}
        log(f"   drop {row['drop']:.2f}  today {row['today']}  agreement drop "
            f"{row['agreement_drop']}")
        yield row


def fmt(v: Any, nd: int = 3) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.{nd}f}"
    return str(v)


def render(rows: list[dict[str, Any]], seps: dict[str, Any]) -> str:
    lines = ["# Verdict study: parity candidates against the measured mAP drop", "",
             ("Generated by `benchmarks/verdict_study.py` (OpenVINO INT8, profile "
              "intel-cpu-int8). Drop = PyTorch mAP50-95 minus OpenVINO mAP50-95 on the val "
              "split, in points. Site metrics: worst attention site, over the bundle's 2 "
              f"reference images plus {rows[0]['n_val']} val images (the seeded noise input "
              "is left out of them; the JSON has them with it too). Agreement drop: mAP50-95 "
              "of the fp32 model's own detections (conf >= 0.25) as labels, minus the "
              "build's, on the 3 reference inputs plus the val images. `today` = the "
              "export's self-parity verdict (3 inputs) and its first divergent site."), "",
             ("| checkpoint | variant | drop | today | today, 3+val inputs | cos worst | "
              "cos median | SQNR worst dB | SQNR median dB | site/stream worst | "
              "site/stream median | stream err worst | intro/inherit | agreement drop |"),
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        w = r["worst_site"]

        def g(k: str, nd: int = 3, w: dict[str, Any] = w) -> str:
            return fmt(w[k]["value"], nd) if k in w else "-"

        t, te = r["today"], r["today_on_extended_inputs"]
        lines.append(
            f"| {r['checkpoint']} | {r['variant']} | {r['drop']:.2f} | "
            f"{'pass' if t['passed'] else 'FAIL ' + str(t['first_divergent'])} | "
            f"{'pass' if te['passed'] else 'FAIL ' + str(te['first_divergent'])} | "
            f"{g('cosine_worst', 4)} | {g('cosine_median', 4)} | {g('sqnr_db_worst', 1)} | "
            f"{g('sqnr_db_median', 1)} | {g('res_rel_site_worst')} | "
            f"{g('res_rel_site_median')} | {g('res_rel_stream_worst')} | "
            f"{g('introduced_over_inherited_median', 2)} | {fmt(r['agreement_drop'], 2)} |")
    lines += ["", ("Which site each candidate names, and the counterfactual: the site whose "
                   "float output, spliced into the quantized run, recovers the largest share "
                   "of the agreement-mAP drop (negative: splicing made it worse). A build "
                   "with as many FakeQuantize ops as its default build quantized nothing "
                   "more than it."), "",
              ("| checkpoint | variant | FakeQuantize ops | drop | worst cosine site | "
               "worst site/stream site | splice: best site | recovered | "
               "agreement drop after splice |"),
              "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        w, b = r["worst_site"], r.get("splice_best") or {}
        lines.append(
            f"| {r['checkpoint']} | {r['variant']} | {r['fake_quantize_ops']} | {r['drop']:.2f} | "
            f"{w.get('cosine_worst', {}).get('site', '-')} | "
            f"{w.get('res_rel_site_worst', {}).get('site', '-')} | {b.get('site', '-')} | "
            f"{fmt(100 * b['recovered_frac'], 0) + '%' if b else '-'} | "
            f"{fmt(b.get('agreement_drop'), 2)} |")
    lines += ["", "## Does a threshold separate drop <= 1 from drop >= 3?", "",
              f"Builds with drop <= {PASS_DROP}: " + ", ".join(
                  f"{r['checkpoint']}/{r['variant']}" for r in rows if r["drop"] <= PASS_DROP),
              "",
              f"Builds with drop >= {FAIL_DROP}: " + ", ".join(
                  f"{r['checkpoint']}/{r['variant']}" for r in rows if r["drop"] >= FAIL_DROP),
              ""]
    # today's verdict as a candidate too
    lines.append(f"- **today's verdict** (the export's self-parity, 3 inputs): "
                 f"{seps['today']['summary']}")
    lines.append(f"- **today's verdict on the 3 + val inputs**: "
                 f"{seps['today_extended']['summary']}")
    for key, label, _ in CANDIDATES:
        s = seps[key]
        if s["separates"] is None:
            txt = "not decidable (no builds on one side)"
        elif s["separates"]:
            txt = (f"separates: {s['direction']} {s['threshold']:.4g} (worst passing build "
                   f"{s['worst_passing']:.4g}, best failing build {s['best_failing']:.4g})")
        else:
            txt = (f"does not separate: the worst build that must pass ({s['worst_passing']:.4g}) "
                   f"is at least as bad as the best build that must fail ({s['best_failing']:.4g})")
        fam = []
        for f in ("yolo", "rtdetr"):
            fs = seps.get(f"{key}@{f}")
            if fs and fs["separates"] is not None:
                fam.append(f"{f} alone: " + (f"{fs['direction']} {fs['threshold']:.4g}"
                                             if fs["separates"] else "no threshold"))
        lines.append(f"- **{label}** (`{key}`): {txt}" + (f" [{'; '.join(fam)}]" if fam else ""))
    return "\n".join(lines) + "\n"


def today_separation(rows: list[dict[str, Any]], key: str = "today") -> dict[str, Any]:
    good = [r for r in rows if r["drop"] <= PASS_DROP]
    bad = [r for r in rows if r["drop"] >= FAIL_DROP]
    wrong_fail = [f"{r['checkpoint']}/{r['variant']}" for r in good if not r[key]["passed"]]
    wrong_pass = [f"{r['checkpoint']}/{r['variant']}" for r in bad if r[key]["passed"]]
    ok = not wrong_fail and not wrong_pass
    summary = ("agrees with every build" if ok else
               f"wrong on {len(wrong_fail) + len(wrong_pass)} of {len(good) + len(bad)} builds "
               f"(fails good builds: {', '.join(wrong_fail) or 'none'}; passes harmful "
               f"builds: {', '.join(wrong_pass) or 'none'})")
    return {"separates": ok, "wrong_fail": wrong_fail, "wrong_pass": wrong_pass,
            "summary": summary}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoints", nargs="+", default=["yolo26n-test", "rtdetr-tiny-test"])
    ap.add_argument("--val-images", type=int, default=16,
                    help="val images added to the bundle's reference inputs")
    ap.add_argument("--out", default=str(RESULTS / "verdict_study"))
    ap.add_argument("--merge", action="store_true",
                    help="keep rows of other checkpoints already in the results file")
    ap.add_argument("--variants", nargs="+",
                    help="build only these variants and the default one (default: all)")
    ap.add_argument("--combine", nargs="+", metavar="JSON",
                    help="measure nothing: pool the rows of earlier runs' JSON files and "
                         "redo the threshold analysis over them")
    args = ap.parse_args()
    out = Path(args.out)
    rows: list[dict[str, Any]] = []
    if args.combine:
        for f in args.combine:
            rows += json.loads(Path(f).read_text())["rows"]
    else:
        if args.merge and out.with_suffix(".json").is_file():
            old = json.loads(out.with_suffix(".json").read_text())["rows"]
            rows = [r for r in old if r["checkpoint"] not in args.checkpoints]
        work = Path(tempfile.mkdtemp(prefix="edgekit-verdict-"))
        try:
            for name in args.checkpoints:
                for r in run_checkpoint(name, work, args.val_images, args.variants):
                    r["n_val"] = args.val_images
                    rows.append(r)
                    # rows so far, for --combine should a long run be stopped
                    partial = out.with_suffix(".partial.json")
                    partial.write_text(json.dumps({"rows": rows}, indent=1) + "\n")
        finally:
            shutil.rmtree(work, ignore_errors=True)
    seps = {key: separation(rows, key, hi) for key, _, hi in CANDIDATES}
    for fam in ("yolo", "rtdetr"):  # one family at a time: does a per-family threshold exist?
        mine = [r for r in rows if r["checkpoint"].startswith(fam)]
        seps.update({f"{key}@{fam}": separation(mine, key, hi) for key, _, hi in CANDIDATES})
    seps["today"] = today_separation(rows)
    seps["today_extended"] = today_separation(rows, "today_on_extended_inputs")
    payload = {"schema": "edgekit.verdict-study/1", "pass_drop": PASS_DROP,
               "fail_drop": FAIL_DROP, "label_conf": LABEL_CONF, "rows": rows,
               "separation": seps}
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(payload, indent=1) + "\n")
    tmp.replace(out.with_suffix(".json"))
    tmp = out.with_suffix(".md.tmp")
    tmp.write_text(render(rows, seps))
    tmp.replace(out.with_suffix(".md"))
    print(render(rows, seps))


if __name__ == "__main__":
    main()
