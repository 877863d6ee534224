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


def _bundle(model: str, profile: str, imgsz: int, root: Path, cal: int) -> Path:
    from edgekit.export.pipeline import export
    from edgekit.profiles import load_profile

    prof = load_profile(profile, {"imgsz": imgsz, "calibration.count": cal})
    hit = sorted(root.glob(f"*-{profile}-{imgsz}"))
    if hit:
        return hit[0]
    return export(model, prof, root, parity=False, trust_checkpoint=True).bundle


def _variants(int8_bundle: Path, work: Path) -> dict[str, tuple[Path, dict[str, Any]]]:
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
    base = convert(ctx.onnx)
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
    for label, kw in tries.items():
        model = base.clone()
        names = ov_names_for(model, list(sel.nodes), list(sel.tensors))
        q = quantize_int8(model, calib, ignored_names=names,
                          ignored_types=list(sel.openvino_types),
                          **{"preset": prof.calibration.preset, **kw})
        path = work / label.replace(" ", "_").replace(",", "").replace(".", "") / "model.xml"
        save(q, path, policy=prof.float_policy)
        out[label] = (path, {})
    return out


def _parity(int8_bundle: Path, ir: Path) -> dict[str, Any]:
    from edgekit.bundle import load_bundle
    from edgekit.parity.run import run_parity

    b = load_bundle(int8_bundle)
    be = run_parity(b, b.manifest.profile, ["openvino"], artifacts={"openvino": ir})[
        "backends"]["openvino"]
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


def main() -> None:
    import numpy as np

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
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    a = ap.parse_args()
    tmp = tempfile.TemporaryDirectory(prefix="edgekit-attr-")
    root = a.bundles or Path(tmp.name)
    root.mkdir(parents=True, exist_ok=True)
    bundles = {k: _bundle(a.model, p, a.imgsz, root, a.calibration) for k, p in PROFILES.items()}
    builds: dict[str, tuple[Path, dict[str, Any]]] = {
        "f32": (bundles["f32"] / IR, {}), "bf16": (bundles["bf16"] / IR, {})}
    if a.no_variants:
        builds["int8 (edgekit default)"] = (bundles["int8"] / IR, {})
    else:
        builds.update(_variants(bundles["int8"], Path(tmp.name) / "variants"))
    parity = {k: _parity(bundles["int8"], ir) for k, (ir, _) in builds.items() if "int8" in k}
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
             "attributed | parity | worst-site SQNR dB |", "|---|---:|---:|---:|---:|---:|---:|---|---:|"]
    for k, r in res.items():
        pa = parity.get(k, {})
        sq = pa.get("worst_sqnr_db")
        lines.append(f"| {k} | {p50[k]:.3f} | {p50['f32'] / p50[k]:.2f} | "
                     f"{p50['bf16'] / p50[k]:.2f} | {r['p50_ms']:.3f} | "
                     f"{r['profiler_overhead']:+.0%} | {r['coverage']:.0%} | "
                     f"{'-' if not pa else ('pass' if pa['passed'] else 'fail')} | "
                     f"{'-' if sq is None else f'{sq:.1f}'} |")
    main3 = {k: res[k] for k in ("int8 (edgekit default)", "bf16", "f32")}
    lines += ["", "## Op kind by op kind (ms, median per op; the precisions each ran in)", "",
              kinds_markdown(main3), "", "## All builds by kind", "", kinds_markdown(res), "",
              "## INT8 (edgekit default) by attention site", "",
              sites_markdown(res["int8 (edgekit default)"]), ""]
    for k in ("int8 (edgekit default)", "bf16"):
        lines += [f"## Slowest ops, {k}", "", "| op | type | kind | precision | ms |",
                  "|---|---|---|---|---:|"]
        lines += [f"| {o['name'][:90]} | {o['op_type']} | {o['kind']} | {o['precision']} | "
                  f"{o['time_ms']:.3f} |" for o in res[k]["top_ops"][:12]]
        lines.append("")
    lines += ["Timings from one run on a machine that may be shared; the ratios are taken "
              "within the run. A variant is adopted only after `edgekit eval` and parity hold."]
    a.out.mkdir(parents=True, exist_ok=True)
    doc = {"model": a.model, "imgsz": a.imgsz, "cpu": cpu.get("model"), "support": sup,
           "parity": parity, "results": res}
    for name, text in (("attribution.json", json.dumps(doc, indent=1)),
                       ("attribution.md", "\n".join(lines) + "\n")):
        part = a.out / (name + ".part")
        part.write_text(text)
        part.replace(a.out / name)
    print("\n".join(lines))
    tmp.cleanup()


if __name__ == "__main__":
    main()
