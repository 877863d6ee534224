#!/usr/bin/env python3
"""Reproduce edgekit's performance table on the machine at hand.

For each model (yolo26n, RT-DETR-L at 640 by default) it measures, in one run and side by
side: PyTorch eager, ONNX Runtime, OpenVINO FP32 and OpenVINO INT8 — p50, p99, FPS and the
ratio to PyTorch — plus the cost of export and of parity, and the compute floor (model FLOPs
over the matrix-multiply rate measured here). Writes JSON and a markdown table.

    python benchmarks/perf_table.py                 # full: 640 px, 100 iterations
    python benchmarks/perf_table.py --quick         # 320 px, 30 iterations, a few minutes
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

from edgekit.bench.run import BenchConfig, bench_backend, conditions, resolve_target
from edgekit.export.bundle import load_bundle
from edgekit.export.pipeline import export
from edgekit.parity.run import run_parity
from edgekit.profiles import load_profile


def matmul_gflops(threads: int | None, n: int = 1024, reps: int = 20) -> float:
    """Measured fp32 GEMM rate (GFLOP/s) with torch on this CPU: the compute ceiling."""
    import torch

    if threads:
        torch.set_num_threads(threads)
    a, b = torch.randn(n, n), torch.randn(n, n)
    for _ in range(3):
        a @ b
    times = []
    for _ in range(reps):
        t0 = time.perf_counter_ns()
        a @ b
        times.append(time.perf_counter_ns() - t0)
    return 2 * n**3 / (np.median(times) / 1e9) / 1e9


def model_gflops(spec: str, imgsz: int) -> float:
    """Forward FLOPs (2 x MACs) of the model at imgsz, counted by thop via Ultralytics."""
    from ultralytics.utils.torch_utils import get_flops

    from edgekit.models.build import load_model
    from edgekit.models.source import resolve_source

    lm = load_model(resolve_source(spec))
    return float(get_flops(lm.model, imgsz))  # GFLOPs


def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def run(models: list[str], imgsz: int, iters: int, warmup: int, threads: int | None,
        out_dir: Path) -> dict:
    out_dir.mkdir(parents=True, exist_ok=True)
    rows, costs = [], []
    rate = matmul_gflops(threads)
    for spec in models:
        fp32_prof = load_profile("intel-cpu-fp32", {"imgsz": imgsz, "runtime.threads": threads})
        int8_prof = load_profile("intel-cpu-int8", {"imgsz": imgsz, "runtime.threads": threads})
        res32, t_exp32 = timed(lambda: export(spec, fp32_prof, out_dir, parity=False,
                                              force=True))
        res8, t_exp8 = timed(lambda: export(spec, int8_prof, out_dir, parity=False,
                                            force=True))
        b32 = load_bundle(res32.bundle)
        rep32, t_par32 = timed(lambda: run_parity(b32, fp32_prof, ["onnxruntime", "openvino"]))
        b8 = load_bundle(res8.bundle)
        rep8, t_par8 = timed(lambda: run_parity(b8, int8_prof, ["openvino"]))
        costs.append({"model": spec, "imgsz": imgsz, "export_fp32_s": t_exp32,
                      "export_int8_s": t_exp8, "parity_fp32_ort_ov_s": t_par32,
                      "parity_int8_ov_s": t_par8,
                      "parity_fp32_passed": rep32["passed"], "parity_int8_passed": rep8["passed"],
                      "int8_worst_cosine": min((la["metrics"].get("cosine", 0)
                                                for la in rep8["backends"]["openvino"]["layers"]),
                                               default=None),
                      "int8_first_divergent": rep8["backends"]["openvino"]["first_divergent"]})
        cfg = BenchConfig(warmup=warmup, iters=iters, threads=threads, e2e=False)
        t32, t8 = resolve_target(res32.bundle), resolve_target(res8.bundle)
        measured = {
            "torch eager": bench_backend("torch", t32, cfg),
            "onnxruntime fp32": bench_backend("onnxruntime", t32, cfg),
            "openvino fp32": bench_backend("openvino", t32, cfg),
            "openvino int8": bench_backend("openvino", t8, cfg),
        }
        gflops = model_gflops(spec, imgsz)
        base = measured["torch eager"]["model_only"]["p50"]
        for name, r in measured.items():
            s = r["model_only"]
            rows.append({"model": spec, "imgsz": imgsz, "backend": name, "p50_ms": s["p50"],
                         "p99_ms": s["p99"], "fps": s["fps"], "cv": s["cv"],
                         "speedup_vs_torch": base / s["p50"], "gflops": gflops,
                         "floor_ms": gflops / rate * 1000,
                         "floor_fraction": (gflops / rate * 1000) / s["p50"]})
    report = {"created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "imgsz": imgsz, "iters": iters,
              "threads": threads, "matmul_gflops": rate, "rows": rows, "costs": costs,
              "conditions": conditions(BenchConfig(threads=threads))}
    return report


def markdown(rep: dict) -> str:
    lines = [f"Measured {rep['created']} on {rep['conditions']['cpu']['model']} "
             f"({rep['conditions']['cpu']['logical_cores']} logical cores, threads "
             f"{rep['threads'] or 'default'}); fp32 GEMM rate {rep['matmul_gflops']:.0f} GFLOP/s.",
             "", "| model | px | backend | p50 ms | p99 ms | FPS | × torch | floor ms |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rep["rows"]:
        lines.append(f"| {r['model']} | {r['imgsz']} | {r['backend']} | {r['p50_ms']:.1f} | "
                     f"{r['p99_ms']:.1f} | {r['fps']:.1f} | {r['speedup_vs_torch']:.2f} | "
                     f"{r['floor_ms']:.1f} |")
    lines += ["", "| model | export fp32 s | export int8 s | parity fp32 (ORT+OV) s | "
              "parity int8 s | int8 worst cosine | int8 first divergent |",
              "|---|---|---|---|---|---|---|"]
    for c in rep["costs"]:
        lines.append(f"| {c['model']} | {c['export_fp32_s']:.1f} | {c['export_int8_s']:.1f} | "
                     f"{c['parity_fp32_ort_ov_s']:.1f} | {c['parity_int8_ov_s']:.1f} | "
                     f"{c['int8_worst_cosine']:.4f} | {c['int8_first_divergent']} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="320 px, 30 iterations")
    ap.add_argument("--models", default="yolo26n.yaml,rtdetr-l.yaml")
    ap.add_argument("--imgsz", type=int)
    ap.add_argument("--iters", type=int)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    a = ap.parse_args()
    imgsz = a.imgsz or (320 if a.quick else 640)
    iters = a.iters or (30 if a.quick else 100)
    rep = run(a.models.split(","), imgsz, iters, 5 if a.quick else 10, a.threads,
              a.out / "bundles")
    tag = f"perf_{imgsz}"
    (a.out / f"{tag}.json").write_text(json.dumps(rep, indent=2) + "\n")
    md = markdown(rep)
    (a.out / f"{tag}.md").write_text(md)
    print(md)


if __name__ == "__main__":
    main()
