#!/usr/bin/env python3
"""Where INT8's time goes against bf16's and f32's, op kind by op kind, on OpenVINO's own
profiler, side by side in one run; and what the INT8 experiments edgekit controls change.

Exports (or reuses, under --bundles) the model for intel-cpu-fp32, intel-cpu-bf16 and
intel-cpu-int8, builds the INT8 variants (NNCF options, a runtime option), runs parity on
each INT8 build, then profiles every build in interleaved rounds (each profiled iteration
paired with an unprofiled one: the profiler's own overhead). Each IR is compiled as a
plain client compiles it (the precision it carries). Writes
benchmarks/results/attribution.{json,md} with the CPU named. Accuracy (`edgekit eval`) is
not judged here: a variant is only worth adopting once eval and parity hold.

    python benchmarks/attribution.py --model ~/.cache/edgekit/zoo/yolo26n-bench.pt --imgsz 640
    python benchmarks/attribution.py --model yolo26n.yaml --imgsz 96 --iters 6 --rounds 2  # smoke
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path
from typing import Any

PROFILES = {"f32": "intel-cpu-fp32", "bf16": "intel-cpu-bf16", "int8": "intel-cpu-int8"}


def _bundle(model: str, profile: str, imgsz: int, root: Path, cal: int,
            data: str | None) -> Path:
    from edgekit.export.pipeline import export
    from edgekit.profiles import load_profile

    prof = load_profile(profile, {"imgsz": imgsz, "calibration.count": cal})
    hit = sorted(root.glob(f"*-{profile}-{imgsz}"))
    if hit:
        return hit[0]
    return export(model, prof, root, parity=False, trust_checkpoint=True, data=data).bundle


#: ops a quantized convolution's sum post-op fuses; an f32 mark must reach them too
_FUSED = ("Add", "Multiply", "Subtract", "Swish", "Sigmoid")


def _mark_islands(model: Any, float_names: set[str], float_types: set[str]) -> int:
    """The float-scope-only f32 policy (an experiment): f32 marks on the float scope's ops,
    the constants they read, the eltwise ops a marked conv's output runs into (OpenVINO
    2026.4 fails to compile, "object is not initialized", when a marked conv's residual Add
    is not marked) and the output tail (ops from which no quantizer is reachable). The ops
    between INT8 ops run at the plug-in's default. Returns how many ops were marked."""
    from edgekit.runtimes.openvino import precision as P

    # the op rewrites the f32 policy makes, so the plug-in keeps the marks
    for rewrite in (P._softmax8_to_1, P._maxpool8_to_1, P._interpolate11_to_4):
        rewrite(model)
    model.set_rt_info("f32", P.RT_INFO_KEY)
    marked: set[str] = set()

    def mark(op: Any) -> None:
        op.get_rt_info()[P.PRECISE_MARK] = ""
        marked.add(op.get_friendly_name())

    for op in model.get_ops():
        if op.get_friendly_name() not in float_names and op.get_type_name() not in float_types:
            continue
        mark(op)
        for i in range(op.get_input_size()):
            if op.input_value(i).get_node().get_type_name() == "Constant":
                mark(op.input_value(i).get_node())
        todo = [op] if op.get_type_name() in ("Convolution", "GroupConvolution") else []
        while todo:
            for t in todo.pop().output(0).get_target_inputs():
                nxt = t.get_node()
                if nxt.get_type_name() in _FUSED and nxt.get_friendly_name() not in marked:
                    mark(nxt)
                    todo.append(nxt)
    reaches: dict[str, bool] = {}
    for op in reversed(model.get_ordered_ops()):
        r = any(t.get_node().get_type_name() == "FakeQuantize"
                or reaches.get(t.get_node().get_friendly_name(), False)
                for o in op.outputs() for t in o.get_target_inputs())
        reaches[op.get_friendly_name()] = r
        if not r and op.get_type_name() != "Result":
            mark(op)
    return len(marked)


def _variants(int8_bundle: Path, work: Path, data: str | None
              ) -> dict[str, tuple[Path, dict[str, Any]]]:
    """INT8 builds and runtime options to try beside edgekit's default INT8 IR:
    (IR, extra CPU plug-in properties)."""
    import nncf

    from edgekit.bundle import load_bundle
    from edgekit.runtimes import BuildContext
    from edgekit.runtimes.openvino import IR
    from edgekit.runtimes.openvino.convert import convert, ov_names_for, quantize_int8, save
    from edgekit.scope import FloatScope

    b = load_bundle(int8_bundle)
    prof = b.manifest.profile
    ctx = BuildContext.of_bundle(b.path, prof, list(b.manifest.taps))
    sel = ctx.select(FloatScope.of(prof.calibration))
    if data:  # calibrate as the bundle was: export --data's picks from the train split
        from edgekit.eval.calibration import dataset_calibration

        picks, _ = dataset_calibration(data, count=prof.calibration.count)
        ctx = BuildContext.of_bundle(b.path, prof, list(b.manifest.taps), images=picks)
    from edgekit.graph import tap_tensors

    base = convert(ctx.onnx, keep_tensors=tap_tensors(ctx.taps))
    calib = ctx.calibration()
    default_ir = b.path / IR
    out: dict[str, tuple[Path, dict[str, Any]]] = {"int8 (edgekit default)": (default_ir, {})}
    out["int8 + denormals optimization"] = (default_ir, {"CPU_DENORMALS_OPTIMIZATION": True})
    out["int8 + CPU pinning"] = (default_ir, {"ENABLE_CPU_PINNING": True})
    tries: dict[str, dict[str, Any]] = {
        "int8, performance preset": {"preset": "performance"},
        "int8, not ModelType.TRANSFORMER": {"transformer": False},
        "int8, full bias correction": {"options": {"fast_bias_correction": False}},
        "int8, SmoothQuant alpha 0.5": {"options": {
            "advanced_parameters": nncf.AdvancedQuantizationParameters(
                smooth_quant_alphas=nncf.AdvancedSmoothQuantParameters(matmul=0.5))}},
    }
    # where the float island's borders fall, and the float parts' precision (the IR's marks)
    tries.update({
        "int8, f32 on the float scope only": {"policy": "islands"},
        "int8, performance preset, f32 on the float scope only": {"preset": "performance",
                                                                  "policy": "islands"},
        "int8, float parts bf16": {"policy": "bf16"},
        "int8, performance preset, float parts bf16": {"preset": "performance",
                                                       "policy": "bf16"},
    })
    import openvino as ov

    for label, kw in tries.items():
        kw = dict(kw)
        policy = kw.pop("policy", prof.float_policy)
        model = base.clone()
        names = ov_names_for(model, list(sel.nodes), list(sel.tensors))
        q = quantize_int8(model, calib, ignored_names=names,
                          ignored_types=list(sel.openvino_types),
                          **{"preset": prof.calibration.preset, **kw})
        path = work / label.replace(" ", "_").replace(",", "").replace(".", "") / "model.xml"
        if policy == "islands":
            _mark_islands(q, set(names), set(sel.openvino_types))
            path.parent.mkdir(parents=True, exist_ok=True)
            ov.save_model(q, str(path), compress_to_fp16=False)
        else:
            save(q, path, policy=policy)
        out[label] = (path, {"_policy": "auto" if policy == "islands" else policy})
    return out


def _as_bundle(int8_bundle: Path, ir: Path, policy: str | None, where: Path) -> Path:
    """A copy of the INT8 bundle carrying ``ir`` (the manifest's hashes and float policy
    updated), so `edgekit eval` and parity run it as they run a bundle."""
    import hashlib
    import shutil

    shutil.rmtree(where, ignore_errors=True)
    shutil.copytree(int8_bundle, where)
    for ext in (".xml", ".bin"):
        shutil.copy(ir.with_suffix(ext), where / "openvino" / f"model{ext}")
    m = json.loads((where / "manifest.json").read_text())
    for k in ("openvino/model.xml", "openvino/model.bin"):
        m["files"][k] = hashlib.sha256((where / k).read_bytes()).hexdigest()
    if policy:  # run as a plain client runs it: no f32 pin where the IR leaves ops unmarked
        m["profile"]["float_precision"] = policy
    (where / "manifest.json").write_text(json.dumps(m, indent=1))
    return where


def _accuracy(bundle: Path, data: str) -> dict[str, Any]:
    from edgekit import api

    doc = api.eval(bundle, data, backends=["openvino"], reference="recorded").document
    r, ref = doc["backends"]["openvino"], doc["reference"] or {}
    return {"map50_95": r["map50_95"] * 100, "ref_map50_95": (ref.get("map50_95") or 0) * 100,
            "drop": r.get("drop_map50_95"),
            "inference_precision": r["settings"].get("inference_precision")}


def _compiles(ir: Path) -> None:
    import openvino as ov

    core = ov.Core()
    core.compile_model(core.read_model(str(ir)), "CPU")


def _parity(bundle: Path) -> dict[str, Any]:
    from edgekit.bundle import load_bundle
    from edgekit.parity.run import run_parity

    b = load_bundle(bundle)
    be = run_parity(b, b.manifest.profile, ["openvino"])["backends"]["openvino"]
    sq = [la["metrics"].get("sqnr_db_median") for la in be["layers"] if la.get("metrics")]
    sq = [v for v in sq if v is not None]
    return {"passed": be["passed"], "worst_sqnr_db": min(sq) if sq else None}


def _merge(into: dict[str, Any] | None, raw: dict[str, Any]) -> dict[str, Any]:
    if into is None:
        return raw
    times = {o["name"]: o["times_us"] for o in raw["ops"]}
    for o in into["ops"]:
        o["times_us"] += times.get(o["name"], [])
    into["profiled_ms"] += raw["profiled_ms"]
    into["unprofiled_ms"] += raw["unprofiled_ms"]
    return into


def _acc_cell(acc: dict[str, Any] | None) -> str:
    if not acc or acc.get("drop") is None:
        return "-"
    return f"{acc['map50_95']:.2f} ({acc['drop']:+.2f})"


def _conv_pairs(int8: dict[str, Any], bf16: dict[str, Any], p50_int8: float,
                p50_bf16: float) -> list[str]:
    """The same convolutions in the INT8 and the bf16 build, by the kernels that ran them:
    whether the INT8 kernels are any faster than the bf16 ones, op for op."""
    import numpy as np

    def convs(raw: dict[str, Any]) -> dict[str, tuple[str, float]]:
        out = {}
        for o in raw["ops"]:
            if o["type"] in ("Convolution", "GroupConvolution") and o["times_us"]:
                key = next((n for n in o["original"] if "/fq_" not in n), o["name"])
                out[key] = (o.get("kernel") or "?", float(np.median(o["times_us"])) / 1000)
        return out

    q, f = convs(int8), convs(bf16)
    pairs: dict[tuple[str, str], list[float]] = {}
    for k in q.keys() & f.keys():
        pairs.setdefault((q[k][0], f[k][0]), [0, 0.0, 0.0])
        p = pairs[(q[k][0], f[k][0])]
        p[0] += 1
        p[1] += q[k][1]
        p[2] += f[k][1]
    both = q.keys() & f.keys()
    tq, tf = sum(q[k][1] for k in both), sum(f[k][1] for k in both)
    faster = sum(1 for k in both if q[k][1] < f[k][1])
    lines = ["## The same convolutions, INT8 kernel against bf16 kernel", "",
             f"{len(both)} convolutions in both builds: {tq:.3f} ms INT8 against {tf:.3f} ms "
             f"bf16 ({tf / tq if tq else 0:.2f}x); INT8 faster on {faster} of them. Were every "
             f"other op of the INT8 build as fast as bf16's, INT8 would run at "
             f"{p50_bf16 - (tf - tq):.3f} ms, {p50_bf16 / (p50_bf16 - (tf - tq)):.2f}x bf16 "
             f"(measured: {p50_int8:.3f} ms, {p50_bf16 / p50_int8:.2f}x).", "",
             "| INT8 kernel | bf16 kernel | convs | INT8 ms | bf16 ms | bf16 / INT8 |",
             "|---|---|---:|---:|---:|---:|"]
    for (kq, kf), (n, a, b) in sorted(pairs.items(), key=lambda kv: -kv[1][1]):
        lines.append(f"| {kq} | {kf} | {n} | {a:.3f} | {b:.3f} | {b / a if a else 0:.2f} |")
    return lines + [""]


def main() -> None:
    import numpy as np
    from _results import write_results

    from edgekit.attribution import from_capture
    from edgekit.attribution.report import kinds_markdown, sites_markdown
    from edgekit.attribution.run import graph_of
    from edgekit.bundle import load_bundle
    from edgekit.hostinfo import cpu_info
    from edgekit.precision import cpu_support
    from edgekit.runtimes.openvino import IR
    from edgekit.runtimes.openvino.profile import capture

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="yolo26n.yaml")
    ap.add_argument("--imgsz", type=int, default=640)
    ap.add_argument("--iters", type=int, default=60, help="profiled iterations per build")
    ap.add_argument("--rounds", type=int, default=3, help="interleaved rounds")
    ap.add_argument("--calibration", type=int, default=32, help="calibration images")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--no-variants", action="store_true", help="only f32, bf16, int8")
    ap.add_argument("--bundles", type=Path, default=None, help="where bundles are kept")
    ap.add_argument("--data", default=None, help="an Ultralytics data.yaml: INT8 calibrates "
                    "on its train split, and each INT8 build's mAP on its val split is judged")
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    ap.add_argument("--name", default="attribution", help="output file name, no suffix")
    a = ap.parse_args()
    tmp = tempfile.TemporaryDirectory(prefix="edgekit-attr-")
    root = a.bundles or Path(tmp.name)
    root.mkdir(parents=True, exist_ok=True)
    bundles = {k: _bundle(a.model, p, a.imgsz, root, a.calibration, a.data)
               for k, p in PROFILES.items()}
    builds: dict[str, tuple[Path, dict[str, Any]]] = {
        "f32": (bundles["f32"] / IR, {}), "bf16": (bundles["bf16"] / IR, {})}
    if a.no_variants:
        builds["int8 (edgekit default)"] = (bundles["int8"] / IR, {})
    else:
        builds.update(_variants(bundles["int8"], Path(tmp.name) / "variants", a.data))
    policies = {k: cfg.pop("_policy", None) for k, (_, cfg) in builds.items()}
    parity: dict[str, Any] = {}
    accuracy: dict[str, Any] = {}
    failed: dict[str, str] = {}
    for i, (k, (ir, _)) in enumerate(builds.items()):
        if "int8" not in k:
            continue
        copy = _as_bundle(bundles["int8"], ir, policies[k], Path(tmp.name) / f"judged-{i}")
        try:
            _compiles(ir)  # as a plain client compiles it (parity's taps can hide a refusal)
            parity[k] = _parity(copy)
            if a.data:
                accuracy[k] = _accuracy(copy, a.data)
        except RuntimeError as e:  # the plug-in refused to compile it: say so, time the rest
            failed[k] = str(e).strip().splitlines()[-1]
    for k in failed:
        builds.pop(k)
    b = load_bundle(bundles["int8"])
    x = np.load(b.file("reference.npz"))["inputs"][0][:1]
    raws: dict[str, Any] = {}
    per = max(1, a.iters // a.rounds)
    for _ in range(a.rounds):  # side by side: every build in every round
        for k, (ir, cfg) in builds.items():
            raws[k] = _merge(raws.get(k), capture(ir, {"images": x}, iters=per, warmup=3,
                                                  threads=a.threads, config=cfg))
    graph, taps = graph_of(b.file("model.onnx")), list(b.manifest.taps)
    res = {k: from_capture("openvino", r, graph, taps).to_json() for k, r in raws.items()}
    cpu, sup = cpu_info(), cpu_support()
    p50 = {k: r["unprofiled_p50_ms"] for k, r in res.items()}
    lines = [f"# Where INT8's time goes: {a.model} at {a.imgsz} px, OpenVINO", "",
             f"CPU: **{cpu.get('model')}** (AMX {sup.get('amx')}, bf16 {sup.get('bf16')}, "
             f"VNNI {sup.get('vnni')}); threads {a.threads or 'default'}; {a.rounds} interleaved "
             f"rounds, {per * a.rounds} profiled iterations per build, each paired with an "
             "unprofiled one. Each IR compiled as a plain client compiles it.", "",
             "| build | p50 ms (unprofiled) | x f32 | x bf16 | profiled p50 | overhead | "
             "attributed | parity | worst-site SQNR dB | mAP50-95 (drop) |",
             "|---|---:|---:|---:|---:|---:|---:|---|---:|---:|"]
    for k, r in res.items():
        pa, acc = parity.get(k, {}), accuracy.get(k)
        sq = pa.get("worst_sqnr_db")
        lines.append(f"| {k} | {p50[k]:.3f} | {p50['f32'] / p50[k]:.2f} | "
                     f"{p50['bf16'] / p50[k]:.2f} | {r['p50_ms']:.3f} | "
                     f"{r['profiler_overhead']:+.0%} | {r['coverage']:.0%} | "
                     f"{'-' if not pa else ('pass' if pa['passed'] else 'fail')} | "
                     f"{'-' if sq is None else f'{sq:.1f}'} | "
                     f"{_acc_cell(acc)} |")
    for k, why in failed.items():
        lines.append(f"| {k} | OpenVINO refused to compile it: {why} | | | | | | | | |")
    if accuracy:
        ref = next(iter(accuracy.values()))["ref_map50_95"]
        lines += ["", f"mAP50-95 on the data's val split through the deployment path "
                  f"(`edgekit eval`); PyTorch reference {ref:.2f}; drop = reference - build."]
    main3 = {k: res[k] for k in ("int8 (edgekit default)", "bf16", "f32")}
    lines += ["", "## Op kind by op kind (ms, median per op; the precisions each ran in)", "",
              kinds_markdown(main3), "", "## All builds by kind", "", kinds_markdown(res), "",
              "## INT8 (edgekit default) by attention site", "",
              sites_markdown(res["int8 (edgekit default)"]), ""]
    lines += _conv_pairs(raws["int8 (edgekit default)"], raws["bf16"],
                         p50["int8 (edgekit default)"], p50["bf16"])
    for k in ("int8 (edgekit default)", "bf16"):
        lines += [f"## Slowest ops, {k}", "", "| op | type | kind | precision | kernel | ms |",
                  "|---|---|---|---|---|---:|"]
        lines += [f"| {o['name'][:90]} | {o['op_type']} | {o['kind']} | {o['precision']} | "
                  f"{o.get('kernel') or '-'} | {o['time_ms']:.3f} |"
                  for o in res[k]["top_ops"][:12]]
        lines.append("")
    lines += ["Timings from one run on a machine that may be shared; the ratios are taken "
              "within the run. A variant is adopted only after `edgekit eval` and parity hold."]
    for k in res.keys() - main3.keys():  # the variants: their groups, not every record
        res[k].pop("records", None)
    doc = {"model": a.model, "imgsz": a.imgsz, "cpu": cpu.get("model"), "support": sup,
           "data": a.data, "parity": parity, "accuracy": accuracy, "failed": failed,
           "results": res}
    write_results(a.out, a.name, doc, lines)
    tmp.cleanup()


if __name__ == "__main__":
    main()
