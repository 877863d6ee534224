#!/usr/bin/env python3
"""What Ray adds to a fleet run, on a local cluster (a head with 0 CPUs and two worker
nodes labelled as two devices, all on 127.0.0.1).

1. Overhead: 8 stand-in cells (a `sleep` job of --seconds each) on two devices. Ideal wall
   time is 8 x s / 2; the target is within that + s (8 + 2 s for 2-s cells; one after
   another they take 16 s).
2. A real 2 models x 2 profiles x 2 devices matrix (parity and a short bench per cell): the
   fleet's wall time against the same cells run one after another with `fleet cell`'s
   function, on the same bundles (exported once, timed apart).

On one machine both "devices" share its cores, so part 2 shows the engine's cost and the
overlap the cores allow, not what two real devices would give. Writes
benchmarks/results/fleet.{json,md}.

    python benchmarks/fleet.py [--seconds 2] [--imgsz 160] [--bench-iters 50]
    python benchmarks/fleet.py --seconds 0.3 --imgsz 64 --bench-iters 5   # a quick check
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"  # before Ray's first import: loopback only
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
STORE = 100 * 2**20
TINY_RTDETR = str(ROOT / "tests" / "assets" / "rtdetr-tiny.yaml")


def start_cluster():
    from ray.cluster_utils import Cluster

    c = Cluster(initialize_head=True, head_node_args={
        "num_cpus": 0, "object_store_memory": STORE, "node_ip_address": "127.0.0.1",
        "include_dashboard": False})
    for dev in ("a", "b"):
        c.add_node(num_cpus=1, object_store_memory=STORE, node_ip_address="127.0.0.1",
                   labels={"device": dev}, resources={"edgekit-device": 1})
    c.wait_for_nodes()
    return c


def write_matrix(path: Path, models: list[str], jobs: dict, profiles: list[str], imgsz: int) -> Path:
    import yaml

    path.write_text(yaml.safe_dump({"models": models, "profiles": profiles, "imgsz": imgsz,
                                    "devices": {"a": {"device": "a"}, "b": {"device": "b"}},
                                    "jobs": jobs, "export": {"parity": False}}))
    return path


def overhead(address: str, tmp: Path, seconds: float) -> dict:
    from edgekit.fleet import load_matrix, run_matrix

    models = []
    for i in range(2):
        b = tmp / "standin" / f"m{i}"
        b.mkdir(parents=True)
        (b / "manifest.json").write_text("{}")
        models.append(str(b))
    m = write_matrix(tmp / "standin.yaml", models, {"sleep": {"seconds": seconds}},
                     ["onnx-fp32", "intel-cpu-fp32"], 64)
    t0 = time.perf_counter()
    fleet = run_matrix(load_matrix(m), tmp / "standin-out", address=address)
    wall = time.perf_counter() - t0
    assert fleet["summary"]["states"] == {"ok": 8}, fleet["summary"]
    busy = sum(d["jobs"]["sleep"]["interval"][1] - d["jobs"]["sleep"]["interval"][0] for d in fleet["cells"])
    return {"cells": 8, "seconds": seconds, "wall_s": wall, "sequential_s": busy,
            "ideal_s": busy / 2, "target_s": 8 * seconds / 2 + seconds,
            "overhead_per_cell_s": (wall - busy / 2) / 4}


def real(address: str, tmp: Path, imgsz: int, iters: int) -> dict:
    from edgekit.fleet import load_matrix, run_matrix, run_shell_cell
    from edgekit.fleet.bundles import export_bundle
    from edgekit.fleet.matrix import Cell, Matrix

    profiles = ["onnx-fp32", "intel-cpu-fp32"]
    t0 = time.perf_counter()
    bundles = []
    for model in ("yolo26n.yaml", TINY_RTDETR):
        for prof in profiles:
            cell = Cell(model, prof, imgsz, "a", {"device": "a"}, {}, {"parity": False})
            b, step, text = export_bundle(cell, tmp / "bundles" / f"{Path(model).stem}-{prof}")
            assert b is not None, text[-2000:]
            bundles.append((str(b), prof))
    export_s = time.perf_counter() - t0
    jobs = {"parity": {}, "bench": {"iters": iters, "warmup": 2, "model-only": True}}
    cells = []  # each bundle with its own profile: one matrix per profile, run as one
    for prof in profiles:
        mine = [b for b, p in bundles if p == prof]
        cells += load_matrix(write_matrix(tmp / f"real-{prof}.yaml", mine, jobs, [prof], imgsz)).cells
    matrix = Matrix("real", cells, {"a": {"device": "a"}, "b": {"device": "b"}})
    t0 = time.perf_counter()
    fleet = run_matrix(matrix, tmp / "real-out", address=address)
    wall = time.perf_counter() - t0
    assert set(fleet["summary"]["states"]) == {"ok"}, fleet["summary"]
    t0 = time.perf_counter()
    for c in matrix.cells:  # the same cells, one after another, no Ray
        doc = run_shell_cell(matrix, c.id, tmp / "seq-out", Path(c.model))
        assert doc["state"] == "ok", doc.get("error")
    sequential = time.perf_counter() - t0
    return {"cells": len(matrix.cells), "imgsz": imgsz, "bench_iters": iters, "export_s": export_s,
            "fleet_wall_s": wall, "sequential_s": sequential}


def main() -> None:
    import ray

    from edgekit.hostinfo import cpu_info

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=2.0, help="each stand-in cell's sleep")
    ap.add_argument("--imgsz", type=int, default=160)
    ap.add_argument("--bench-iters", type=int, default=50)
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    a = ap.parse_args()
    cpu = cpu_info()
    cluster = start_cluster()
    try:
        with tempfile.TemporaryDirectory(prefix="edgekit-fleet-bench-") as tmp:
            res = {"cpu": cpu["model"], "logical_cores": cpu["logical_cores"], "ray": ray.__version__,
                   "overhead": overhead(cluster.address, Path(tmp), a.seconds),
                   "real": real(cluster.address, Path(tmp), a.imgsz, a.bench_iters)}
    finally:
        ray.shutdown()
        cluster.shutdown()
    a.out.mkdir(parents=True, exist_ok=True)
    (a.out / "fleet.json").write_text(json.dumps(res, indent=2) + "\n")
    o, r = res["overhead"], res["real"]
    md = [f"# edgekit fleet on a local Ray cluster ({res['cpu']}, {res['logical_cores']} logical "
          f"cores, Ray {res['ray']})", "",
          "Head with 0 CPUs, two worker nodes labelled as two devices, all on 127.0.0.1; both "
          "devices share this machine's cores.", "",
          "| run | cells | wall (s) | one after another (s) | ideal on 2 devices (s) | target (s) |",
          "|---|---:|---:|---:|---:|---:|",
          f"| stand-in cells, {o['seconds']:g} s each | {o['cells']} | {o['wall_s']:.2f} | "
          f"{o['sequential_s']:.2f} | {o['ideal_s']:.2f} | {o['target_s']:.2f} |",
          f"| real 2x2x2 at {r['imgsz']} px (parity, bench {r['bench_iters']} iters) | {r['cells']} | "
          f"{r['fleet_wall_s']:.2f} | {r['sequential_s']:.2f} | - | - |", "",
          f"Ray's overhead per stand-in cell: {o['overhead_per_cell_s']:.2f} s (wall time past the "
          f"ideal, per cell a device ran). The four exports (once per model x profile, before "
          f"the cells) took {r['export_s']:.1f} s and are in neither wall time.", ""]
    (a.out / "fleet.md").write_text("\n".join(md))
    print("\n".join(md))


if __name__ == "__main__":
    main()
