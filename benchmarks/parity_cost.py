#!/usr/bin/env python3
"""What attention parity costs: yolo26n and RT-DETR-L at 640 on ONNX Runtime and OpenVINO FP32
over the sample images (the golden reference is computed at export; this times the check).

    python benchmarks/parity_cost.py [--imgsz 640]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from edgekit.export.bundle import load_bundle
from edgekit.export.pipeline import export
from edgekit.parity.run import run_parity
from edgekit.profiles import load_profile


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--imgsz", type=int, default=640)
    ap.add_argument("--models", default="yolo26n.yaml,rtdetr-l.yaml")
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    a = ap.parse_args()
    rows = []
    for spec in a.models.split(","):
        prof = load_profile("intel-cpu-fp32", {"imgsz": a.imgsz})
        t0 = time.perf_counter()
        res = export(spec, prof, a.out / "bundles", parity=False, force=True)
        t_export = time.perf_counter() - t0
        b = load_bundle(res.bundle)
        for backends in (["onnxruntime"], ["openvino"], ["onnxruntime", "openvino"]):
            t0 = time.perf_counter()
            rep = run_parity(b, prof, backends)
            rows.append({"model": spec, "imgsz": a.imgsz, "backends": "+".join(backends),
                         "parity_s": time.perf_counter() - t0, "export_s": t_export,
                         "samples": rep["samples"], "passed": rep["passed"]})
            print(rows[-1], flush=True)
    a.out.mkdir(parents=True, exist_ok=True)
    (a.out / f"parity_cost_{a.imgsz}.json").write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
