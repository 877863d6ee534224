"""Does the reduced-precision parity verdict predict the mAP a build loses?

A reduced version of ``verdict_study.py``, run against the verdict as it now ships. For each
trained checkpoint it builds OpenVINO INT8 variants (profile intel-cpu-int8): the default
build, builds made harmful on purpose (calibrated on black or darkened images, on one image,
RT-DETR's decoder quantized, the final score Sigmoid quantized by a FakeQuantize inserted
into the default build's IR) and one with nothing kept in float. For each it records

* the mAP50-95 drop on the val split (``edgekit eval``'s code, OpenVINO against the PyTorch
  reference mAP the ``--data`` export records);
* the new verdict, as ``edgekit parity`` gives it on the bundle (pass/fail, the first failing
  site, the rule that failed), and the same verdict over the default bundle's reference
  (the sample images plus held-out val images) for builds exported without ``--data``;
* today's verdict: the per-image rule (``verdict: per_image`` with the INT8 tolerances) on
  the 3 inputs bundles had before (2 sample images, 1 noise input);

and whether each verdict passes every build with drop <= 1 point and fails every build with
drop >= 3. Writes ``benchmarks/results/verdict_check.{json,md}``. Nothing is timed.

    PYTHONPATH=. python benchmarks/verdict_check.py
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from verdict_study import (  # noqa: E402
    BASE_SCOPE,
    FAIL_DROP,
    IMGSZ,
    PASS_DROP,
    black_images,
    build_variant,
    dimmed_images,
    fmt,
    today_separation,
)

RESULTS = Path(__file__).resolve().parent / "results"
#: (variant, FakeQuantize levels, score Sigmoid only) put on the default build's final
#: Sigmoid outputs (range [0, 1]); RT-DETR's box Sigmoids reach the output too
SIGMOID_VARIANTS = (("score-sigmoid-fq16", 16, True), ("score-sigmoid-fq4", 4, True),
                    ("output-sigmoids-fq16", 16, False))


def variants(family: str, black: Path, dim05: Path) -> list[tuple[str, dict[str, Any], bool]]:
    """(name, profile overrides, export with --data). The score-Sigmoid variants are made
    from the default build afterwards (see :func:`quantize_score_sigmoid`)."""
    out = [("default", {}, True),
           ("black-calibration", {"calibration.images": str(black), "calibration.count": 8},
            False),
           ("dim-0.5-calibration", {"calibration.images": str(dim05)}, False),
           ("one-image-calibration", {"calibration.count": 1}, True),
           ("all-int8", {"calibration.float_scope": []}, True)]
    if family == "rtdetr":
        out.append(("decoder-int8",
                    {"calibration.float_scope": [s for s in BASE_SCOPE if s != "decoder"]}, True))
    return out


def output_sigmoids(model: Any) -> list[Any]:
    """The IR's Sigmoids that reach a Result without passing a Convolution (a SiLU's Sigmoid
    feeds the next Conv): the final score Sigmoid and, in RT-DETR, the box Sigmoids too."""
    found = []
    for op in model.get_ordered_ops():
        if op.get_type_name() != "Sigmoid":
            continue
        todo, seen, conv, result = [op], set(), False, False
        while todo and not conv:
            cur = todo.pop()
            for out in cur.outputs():
                for tgt in out.get_target_inputs():
                    nxt = tgt.get_node()
                    if nxt.get_friendly_name() in seen:
                        continue
                    seen.add(nxt.get_friendly_name())
                    kind = nxt.get_type_name()
                    conv |= kind in ("Convolution", "GroupConvolution")
                    result |= kind == "Result"
                    todo.append(nxt)
        if result and not conv:
            found.append(op)
    return found


def score_sigmoids(model: Any, nc: int) -> list[Any]:
    """Of :func:`output_sigmoids`, the class-score ones: an axis of ``nc`` (boxes have 4)."""
    assert nc != 4, "4 classes: the score and box Sigmoids cannot be told apart by shape"
    return [op for op in output_sigmoids(model)
            if nc in [d.get_length() for d in op.output(0).get_partial_shape()
                      if d.is_static]]


def quantize_score_sigmoid(src: Path, dst: Path, levels: int, scores_only: bool = True) -> int:
    """A copy of bundle ``src`` at ``dst`` whose OpenVINO IR has a FakeQuantize with
    ``levels`` levels over [0, 1] on the final score Sigmoid's output (NNCF leaves that
    Sigmoid float on its own), or with ``scores_only`` false on every Sigmoid of
    :func:`output_sigmoids`. Returns how many Sigmoids it quantized."""
    import openvino as ov
    import openvino.opset13 as ops

    from edgekit.bundle import load_bundle, write_manifest

    shutil.copytree(src, dst)
    xml = dst / "openvino" / "model.xml"
    core = ov.Core()
    model = core.read_model(str(xml))
    nc = len(json.loads((dst / "manifest.json").read_text())["names"])
    sigs = score_sigmoids(model, nc) if scores_only else output_sigmoids(model)
    for sig in sigs:
        port = sig.output(0)
        targets = list(port.get_target_inputs())
        lo, hi = np.float32(0.0), np.float32(1.0)
        fq = ops.fake_quantize(port, lo, hi, lo, hi, levels)
        for tgt in targets:
            tgt.replace_source_output(fq.output(0))
    tmp = dst / "openvino" / "tmp.xml"
    ov.save_model(model, str(tmp), compress_to_fp16=False)
    tmp.replace(xml)
    tmp.with_suffix(".bin").replace(xml.with_suffix(".bin"))
    m = load_bundle(dst, verify=False).manifest
    write_manifest(dst, m.replace(notes=[
        *m.notes, f"verdict_check: FakeQuantize({levels} levels) on "
        f"{len(sigs)} {'score' if scores_only else 'output'} Sigmoid(s)"]))
    return len(sigs)


def verdicts(bundle_dir: Path, profile: Any, base_ref: dict[str, np.ndarray],
             base_labels: list[str]) -> dict[str, Any]:
    """The new verdict on the bundle's own reference and on the default bundle's, and
    today's verdict (per-image rule) on the 3 inputs bundles had before."""
    from edgekit.bundle import load_bundle, tap_tensors
    from edgekit.parity.run import load_reference, tolerance_fn
    from edgekit.parity.verdict import compare_backend
    from edgekit.runtimes import RunnerSettings, get_runner, run_backend

    bundle = load_bundle(bundle_dir)
    m = bundle.manifest
    tensors = tap_tensors(bundle.taps)

    def judge(ref: dict[str, np.ndarray], labels: list[str],
              overrides: dict[str, Any] | None = None) -> dict[str, Any]:
        runner = get_runner("openvino", bundle.artifact("openvino"), extra_outputs=tensors,
                            settings=RunnerSettings.from_profile(profile))
        got = run_backend(runner, ref["inputs"], tensors)
        res = compare_backend("openvino", "x", taps=bundle.taps, ref=ref, got=got,
                              tolerance=tolerance_fn(profile, "int8", overrides),
                              output_format=m.output.format, imgsz=m.input.imgsz,
                              real=[not lb.startswith("random(") for lb in labels])
        first = res.first_divergent
        rules: list[str] = []
        if first == "output0":
            rules = res.outputs["output0"].get("failed_rules", [])
        elif first is not None:
            rules = next(la.failed_rules for la in res.layers if la.name == first)
        out0 = res.outputs["output0"]
        worst_sq = min(((la.metrics.get("sqnr_db_median", np.inf), la.name)
                        for la in res.layers), default=(None, None))
        worst_sr = max(((la.metrics.get("stream_rel_median", -np.inf), la.name)
                        for la in res.layers), default=(None, None))
        return {"passed": res.passed, "status": res.status, "first_divergent": first,
                "failed_rules": rules, "images": sum(not lb.startswith("random(")
                                                     for lb in labels),
                "sqnr_db_median_worst": worst_sq[0], "sqnr_site": worst_sq[1],
                "stream_rel_median_worst": worst_sr[0], "stream_site": worst_sr[1],
                "agreement_drop": out0.get("agreement_drop")}

    own = load_reference(bundle)
    own_labels = list(m.reference.inputs)
    # the inputs bundles had before held-out images were added: the samples and the noise
    old_idx = [i for i, lb in enumerate(base_labels)
               if lb.startswith("random(") or i < 2]
    old = {k: v[old_idx] for k, v in base_ref.items()}
    out = {"new": judge(own, own_labels),
           "today": judge(old, [base_labels[i] for i in old_idx], {"verdict": "per_image"})}
    if len(own_labels) != len(base_labels):
        out["new_on_default_reference"] = judge(base_ref, base_labels)
    return out


def map_drop(bundle_dir: Path, data: Path, torch_map: float) -> float:
    from edgekit.eval.run import EvalConfig, run_eval

    ev = run_eval(bundle_dir, data, EvalConfig(backends=["openvino"], reference="none"))
    return torch_map - ev["backends"]["openvino"]["map50_95"] * 100


def _read_ir(bundle_dir: Path) -> Any:
    import openvino as ov

    return ov.Core().read_model(str(bundle_dir / "openvino" / "model.xml"))


def run_checkpoint(name: str, work: Path, only: list[str] | None = None,
                   log: Any = print) -> list[dict[str, Any]]:
    from edgekit.bundle import load_bundle
    from edgekit.parity.run import load_reference
    from edgekit.profiles import load_profile
    from edgekit.zoo.train import checkpoint

    ck = checkpoint(name)
    imgsz = IMGSZ[name.rsplit("-", 1)[-1]]
    family = "rtdetr" if "rtdetr" in name else "yolo"
    black = black_images(work / "black", size=imgsz)
    dim05 = dimmed_images(work / f"{name}-dim0.5", ck.data, 0.5,
                          load_profile("intel-cpu-int8").calibration.count)
    rows: list[dict[str, Any]] = []
    base = base_ref = base_labels = None
    torch_map = 0.0
    for vname, overrides, use_data in variants(family, black, dim05):
        if only and vname not in only and vname != "default":
            continue
        log(f"== {name} {vname}")
        prof, res = build_variant(ck, name, vname, imgsz, overrides, use_data, work)
        if base is None:
            base = res.bundle
            base_ref = load_reference(load_bundle(base))
            base_labels = list(res.manifest.reference.inputs)
            torch_map = res.manifest.eval_reference["map50_95"] * 100
        rows.append(measure(name, vname, res.bundle, prof, ck.data, torch_map, base_ref,
                            base_labels, log))
        if vname == "default":
            for vn, levels, scores_only in SIGMOID_VARIANTS:
                if only and vn not in only:
                    continue
                log(f"== {name} {vn}")
                dst = work / f"{name}-{vn}" / res.bundle.name
                n = quantize_score_sigmoid(res.bundle, dst, levels, scores_only)
                if not scores_only and n == len(score_sigmoids(_read_ir(dst), len(
                        res.manifest.names))):
                    shutil.rmtree(dst.parent)  # the same build as the score-only one
                    continue
                row = measure(name, vn, dst, prof, ck.data, torch_map, base_ref, base_labels,
                              log)
                row["score_sigmoids_quantized"] = n
                rows.append(row)
    return rows


def measure(name: str, vname: str, bundle_dir: Path, prof: Any, data: Path, torch_map: float,
            base_ref: Any, base_labels: Any, log: Any) -> dict[str, Any]:
    from edgekit.bundle import load_bundle

    m = load_bundle(bundle_dir).manifest
    row = {"checkpoint": name, "variant": vname, "drop": map_drop(bundle_dir, data, torch_map),
           "reference_inputs": list(m.reference.inputs),
           "reference_npz_bytes": (bundle_dir / "reference.npz").stat().st_size,
           **verdicts(bundle_dir, prof, base_ref, base_labels)}
    log(f"   drop {row['drop']:.2f}  new {row['new']['passed']} {row['new']['first_divergent']}"
        f"  today {row['today']['passed']} {row['today']['first_divergent']}")
    return row


def _v(v: dict[str, Any] | None) -> str:
    if v is None:
        return "(same)"
    if v["passed"]:
        return "pass"
    if v["status"] == "not_compared":
        return "not compared"
    return f"FAIL {v['first_divergent']} ({', '.join(v['failed_rules']) or '-'})"


def render(rows: list[dict[str, Any]], seps: dict[str, Any]) -> str:
    lines = [
        "# Verdict check: the shipped reduced-precision verdict against the mAP drop", "",
        ("Generated by `benchmarks/verdict_check.py` (OpenVINO INT8, profile intel-cpu-int8, "
         "trained checkpoints at 160 px). Drop = PyTorch mAP50-95 minus OpenVINO mAP50-95 on "
         "the val split, in points. **new** = `edgekit parity` on the bundle: the median over "
         "the reference's real images of each site's SQNR and of its error relative to the "
         "residual stream, and output0's label-free agreement mAP drop; the rule that failed "
         "in brackets. A `--data` export's reference holds the 2 sample images plus 8 "
         "held-out val images; builds exported without `--data` (black, dimmed calibration) "
         "have only the 2 samples, so **new, 2+8 images** gives the same verdict over the "
         "default build's reference. **today** = the per-image rule with the INT8 "
         "tolerances on the 3 inputs bundles had before (2 samples, 1 noise input). "
         "score-sigmoid-fqN: the default build's IR with a FakeQuantize of N levels on the "
         "final score Sigmoid (the Sigmoid with an axis of one per class); "
         "output-sigmoids-fq16: on every Sigmoid that reaches the output without a Conv "
         "(RT-DETR: the box and reference-point Sigmoids too; YOLO26 has only the score "
         "one, so it has no such row). Nothing here is timed."), "",
        ("| checkpoint | variant | drop | new | new, 2+8 images | today | worst median SQNR "
         "dB | worst median err/stream | agreement drop |"),
        "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        n = r["new"]
        lines.append(
            f"| {r['checkpoint']} | {r['variant']} | {r['drop']:.2f} | {_v(n)} | "
            f"{_v(r.get('new_on_default_reference'))} | {_v(r['today'])} | "
            f"{fmt(n['sqnr_db_median_worst'], 1)} | {fmt(n['stream_rel_median_worst'])} | "
            f"{fmt(n['agreement_drop'], 2)} |")
    lines += ["", f"Builds that must pass (drop <= {PASS_DROP}) and fail (drop >= {FAIL_DROP}):",
              ""]
    for key, label in (("new", "new verdict, the bundle's own reference"),
                       ("new_best_reference", "new verdict, 2+8 images for every build"),
                       ("today", "today's verdict")):
        lines.append(f"- **{label}**: {seps[key]['summary']}")
    sizes = sorted({(r['checkpoint'], len(r['reference_inputs']), r['reference_npz_bytes'])
                    for r in rows})
    lines += ["", "reference.npz sizes (inputs, bytes): " + "; ".join(
        f"{c} {n} inputs {b / 2**20:.2f} MiB" for c, n, b in sizes)]
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoints", nargs="+", default=["yolo26n-test", "rtdetr-tiny-test"])
    ap.add_argument("--out", default=str(RESULTS / "verdict_check"))
    ap.add_argument("--variants", nargs="+",
                    help="build only these variants and the default one (default: all)")
    ap.add_argument("--merge", action="store_true",
                    help="keep the rows of the results file that this run does not measure")
    args = ap.parse_args()
    out = Path(args.out)
    rows: list[dict[str, Any]] = []
    work = Path(tempfile.mkdtemp(prefix="edgekit-verdict-check-"))
    try:
        for name in args.checkpoints:
            rows += run_checkpoint(name, work, args.variants)
            out.with_suffix(".partial.json").write_text(json.dumps({"rows": rows}, indent=1))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if args.merge and out.with_suffix(".json").is_file():
        done = {(r["checkpoint"], r["variant"]) for r in rows}
        old = [r for r in json.loads(out.with_suffix(".json").read_text())["rows"]
               if (r["checkpoint"], r["variant"]) not in done]
        order = [v[0] for v in variants("rtdetr", Path(), Path())[:1]] + [
            v[0] for v in SIGMOID_VARIANTS] + [v[0] for v in variants("rtdetr", Path(), Path())]
        rows = sorted(old + rows, key=lambda r: (args.checkpoints.index(r["checkpoint"])
                                                 if r["checkpoint"] in args.checkpoints else -1,
                                                 order.index(r["variant"])
                                                 if r["variant"] in order else 99))
    for r in rows:
        r["new_best"] = r.get("new_on_default_reference") or r["new"]
    seps = {"new": today_separation(rows, "new"),
            "new_best_reference": today_separation(rows, "new_best"),
            "today": today_separation(rows, "today")}
    payload = {"schema": "edgekit.verdict-check/1", "pass_drop": PASS_DROP,
               "fail_drop": FAIL_DROP, "rows": rows, "separation": seps}
    out.parent.mkdir(parents=True, exist_ok=True)
    for suffix, text in ((".json", json.dumps(payload, indent=1, default=float) + "\n"),
                         (".md", render(rows, seps))):
        tmp = out.with_suffix(suffix + ".tmp")
        tmp.write_text(text)
        tmp.replace(out.with_suffix(suffix))
    out.with_suffix(".partial.json").unlink(missing_ok=True)
    print(render(rows, seps))


if __name__ == "__main__":
    main()
