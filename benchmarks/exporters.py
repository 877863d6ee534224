#!/usr/bin/env python3
"""TorchScript vs dynamo exporter, per model: export time, graph node count, model-only
latency on each runtime, and the parity figures (worst site cosine, output0 detections).

Each model is exported twice with the same profile (intel-cpu-fp32: OpenVINO and ONNX
Runtime), self-parity on; the bundle's manifest gives the export time and the parity
verdict, the deployed model.onnx the node count, edgekit's bench the latency. Writes
benchmarks/results/exporters.{json,md} with the CPU named. Timings on a shared machine are
noise: run it on a quiet one.

    python benchmarks/exporters.py                     # yolo26n, rtdetr-l at 640 px
    python benchmarks/exporters.py --quick             # 320 px, 30 iterations
    python benchmarks/exporters.py --models yolo26n.yaml,tests/assets/rtdetr-tiny.yaml \\
        --imgsz 160 --iters 10 --out /tmp/exporters    # a smoke run
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

EXPORTERS = ("torchscript", "dynamo")
RUNTIMES = ("onnxruntime", "openvino")


def parity_figures(report: dict) -> dict:
    """Worst site cosine per backend and output0's matched/missing detections."""
    out = {}
    for be, r in report["backends"].items():
        cos = [la["metrics"]["cosine"] for la in r["layers"]
               if la["metrics"].get("cosine") is not None]
        det = r["outputs"].get("output0", {}).get("detections", {})
        out[be] = {"passed": r["passed"], "worst_cosine": min(cos) if cos else None,
                   "matched": det.get("matched"), "missing": det.get("missing"),
                   "max_box_shift_px": det.get("max_box_shift_px")}
    return out


def run(models: list[str], imgsz: int, iters: int, warmup: int, threads: int | None,
        work: Path) -> dict:
    import onnx

    from edgekit.bench.run import BenchConfig, bench_backend, conditions, resolve_target
    from edgekit.export.pipeline import export
    from edgekit.profiles import load_profile

    rows = []
    for spec in models:
        prof = load_profile("intel-cpu-fp32", {"imgsz": imgsz, "runtime.threads": threads})
        for exporter in EXPORTERS:
            t0 = time.perf_counter()
            res = export(spec, prof, work / exporter, force=True, exporter=exporter)
            total = time.perf_counter() - t0
            m = res.manifest
            graph = onnx.load(str(res.bundle / "model.onnx")).graph
            cfg = BenchConfig(warmup=warmup, iters=iters, threads=threads, e2e=False)
            target = resolve_target(res.bundle)
            lat = {rt: bench_backend(rt, target, cfg)["model_only"] for rt in RUNTIMES}
            rows.append({
                "model": spec, "imgsz": imgsz, "exporter": exporter, "opset": m.opset,
                "torch_to_onnx_s": m.timings_s.get("torch_to_onnx"), "export_total_s": total,
                "nodes": len(graph.node),
                "ops": sorted({n.op_type for n in graph.node}),
                "latency_ms": {rt: {"p50": s["p50"], "p99": s["p99"]} for rt, s in lat.items()},
                "parity_passed": bool(m.parity and m.parity.passed),
                "parity": parity_figures(res.parity) if res.parity else None,
            })
    return {"created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "imgsz": imgsz, "iters": iters,
            "threads": threads, "rows": rows, "conditions": conditions(BenchConfig(threads=threads))}


def _f(x: float | None, fmt: str) -> str:
    return "-" if x is None else format(x, fmt)


def markdown(rep: dict) -> str:
    c = rep["conditions"]
    lines = [f"Measured {rep['created']} on {c['cpu']['model']} ({c['cpu']['logical_cores']} "
             f"logical cores, threads {rep['threads'] or 'default'}), {rep['iters']} iterations, "
             f"torch {c['runtimes'].get('torch') or '?'}. Latency is model-only p50 (p99).",
             "", "| model | px | exporter | opset | torch→ONNX s | nodes | "
             + " | ".join(f"{rt} ms" for rt in RUNTIMES)
             + " | parity | worst cosine (ORT / OV) | output0 matched/missing |",
             "|---|---|---|---|---|---|" + "---|" * len(RUNTIMES) + "---|---|---|"]
    for r in rep["rows"]:
        lat = " | ".join(f"{r['latency_ms'][rt]['p50']:.1f} ({r['latency_ms'][rt]['p99']:.1f})"
                         for rt in RUNTIMES)
        par = r["parity"] or {}
        cos = " / ".join(_f((par.get(rt) or {}).get("worst_cosine"), ".6f") for rt in RUNTIMES)
        det = par.get("onnxruntime") or {}
        lines.append(f"| {r['model']} | {r['imgsz']} | {r['exporter']} | {r['opset']} | "
                     f"{_f(r['torch_to_onnx_s'], '.1f')} | {r['nodes']} | {lat} | "
                     f"{'pass' if r['parity_passed'] else 'FAIL'} | {cos} | "
                     f"{det.get('matched', '-')}/{det.get('missing', '-')} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="320 px, 30 iterations")
    ap.add_argument("--models", default="yolo26n.yaml,rtdetr-l.yaml")
    ap.add_argument("--imgsz", type=int)
    ap.add_argument("--iters", type=int)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    a = ap.parse_args()
    imgsz = a.imgsz or (320 if a.quick else 640)
    iters = a.iters or (30 if a.quick else 200)
    with tempfile.TemporaryDirectory(prefix="edgekit-exporters-") as tmp:
        rep = run(a.models.split(","), imgsz, iters, a.warmup, a.threads, Path(tmp))
    a.out.mkdir(parents=True, exist_ok=True)
    (a.out / "exporters.json").write_text(json.dumps(rep, indent=2) + "\n")
    (a.out / "exporters.md").write_text(markdown(rep))
    print(markdown(rep))


if __name__ == "__main__":
    main()
