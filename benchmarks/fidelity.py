#!/usr/bin/env python3
"""How faithful is `edgekit bench`?

1. Harness overhead: edgekit's timing loop against a bare runtime loop
   (InferenceSession.run, an OpenVINO infer request), interleaved in rounds, same model.
2. Agreement with OpenVINO's own benchmark_app (latency hint, same threads), model-only
   medians, measured back to back.

    python benchmarks/fidelity.py [--imgsz 320] [--iters 200] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from edgekit.bench.timer import measure
from edgekit.export.pipeline import export
from edgekit.profiles import load_profile
from edgekit.runtimes import RunnerSettings, get_runner


def bare_loop(fn, iters: int) -> list[int]:
    out = []
    for _ in range(iters):
        t0 = time.perf_counter_ns()
        fn()
        out.append(time.perf_counter_ns() - t0)
    return out


def overhead(bundle: Path, backend: str, iters: int, rounds: int, threads: int) -> dict:
    art = bundle / ("model.onnx" if backend == "onnxruntime" else "openvino/model.xml")
    runner = get_runner(backend, art, settings=RunnerSettings(threads=threads))
    x = np.load(bundle / "reference.npz")["inputs"][0]
    feed = {"images": x}
    harness, bare = [], []
    with runner:
        for _ in range(10):
            runner.run_bare(feed)
        for _ in range(rounds):  # interleave so drift hits both alike
            harness += measure(lambda: runner.infer(feed), warmup=2, iters=iters).samples_ns
            bare += bare_loop(lambda: runner.run_bare(feed), iters)
    h, b = np.median(harness) / 1e6, np.median(bare) / 1e6
    return {"backend": backend, "harness_p50_ms": h, "bare_p50_ms": b,
            "overhead_pct": (h - b) / b * 100}


def benchmark_app(xml: Path, threads: int, seconds: int) -> float | None:
    exe = shutil.which("benchmark_app") or str(Path(sys.executable).parent / "benchmark_app")
    if not Path(exe).exists():
        return None
    # benchmark_app only takes -nthreads with -hint none: one stream, one sync request is the
    # latency configuration (what edgekit's latency hint gives on CPU)
    out = subprocess.run([exe, "-m", str(xml), "-d", "CPU", "-hint", "none", "-nstreams", "1",
                          "-nireq", "1", "-api", "sync", "-nthreads", str(threads),
                          "-t", str(seconds), "-infer_precision", "f32"],
                         capture_output=True, text=True).stdout
    m = re.search(r"Median:\s+([\d.]+)\s*ms", out)
    return float(m.group(1)) if m else None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--imgsz", type=int, default=320)
    ap.add_argument("--iters", type=int, default=100)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    a = ap.parse_args()
    prof = load_profile("intel-cpu-fp32", {"imgsz": a.imgsz, "runtime.threads": a.threads})
    res = export("yolo26n.yaml", prof, a.out / "bundles", parity=False, force=True)
    rows = [overhead(res.bundle, be, a.iters, a.rounds, a.threads)
            for be in ("onnxruntime", "openvino")]
    xml = res.bundle / "openvino" / "model.xml"
    runner = get_runner("openvino", xml, settings=RunnerSettings(threads=a.threads))
    x = {"images": np.load(res.bundle / "reference.npz")["inputs"][0]}
    ours, theirs = [], []
    with runner:
        for _ in range(a.rounds):  # alternate the two tools, so both see the same machine
            ours.append(np.median(measure(lambda: runner.infer(x), warmup=10,
                                          iters=a.iters).samples_ns) / 1e6)
            runner.deactivate()
            theirs.append(benchmark_app(xml, a.threads, 10))
            runner.activate()
    agreement = None
    if all(t is not None for t in theirs):
        o, t = float(np.median(ours)), float(np.median(theirs))
        agreement = {"edgekit_p50_ms": o, "benchmark_app_median_ms": t,
                     "difference_pct": (o - t) / t * 100, "rounds": a.rounds}
    rep = {"imgsz": a.imgsz, "threads": a.threads, "overhead": rows,
           "benchmark_app": agreement}
    a.out.mkdir(parents=True, exist_ok=True)
    (a.out / "fidelity.json").write_text(json.dumps(rep, indent=2) + "\n")
    print(json.dumps(rep, indent=2))


if __name__ == "__main__":
    main()
