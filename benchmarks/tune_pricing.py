#!/usr/bin/env python3
"""Does pricing make tune's search cheaper, and does it pick the same or a better build?

Runs ``edgekit tune`` twice on the same bundle and data, one run after the other on the
same machine: once as shipped (prune steps priced by the profiler, largest saving first,
skipped once the savings left add up to less than the noise; near-tied kept builds decided
by the higher worst-site SQNR), once with pricing switched off (every prune step built,
least error-adding first, parity-checked and timed; near ties decided by the fewest float
nodes, the rule before pricing). Writes
benchmarks/results/tune_pricing.{json,md} with the CPU named.

    python benchmarks/tune_pricing.py --model ~/.cache/edgekit/zoo/yolo26n-bench-*/yolo26n-bench.pt \\
        --data ~/.cache/edgekit/zoo/data/synth-*/data.yaml --imgsz 320
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any


def _unpriced() -> None:
    """Pricing off: no prune step is skipped, and near ties go to the fewest float nodes."""
    from edgekit.tune import pricing, search

    # a pricer that cannot profile plans every prune step, least error-adding first
    pricing.Pricer.able = property(lambda self: False)  # type: ignore[assignment,method-assign]

    def fewest(passing, p50, near_tie):
        fastest = min(passing, key=p50)
        near = [c for c in passing if p50(c) <= p50(fastest) * (1 + near_tie)]
        return min(near, key=lambda c: (c.float_size(), p50(c))), "fewest float nodes"

    search.choose = fewest


def _summary(rep: dict[str, Any], wall: float) -> dict[str, Any]:
    chosen = next(c for c in rep["candidates"] if c["label"] == rep["chosen"])
    side = rep.get("side_by_side", {})
    return {"wall_s": round(wall, 1), "builds": len(rep["candidates"]),
            "bundle": rep["outputs"]["bundle"],
            "skipped_prunes": len(rep["pricing"]["skipped_prunes"]),
            "chosen": rep["chosen"], "why": rep["why"],
            "chosen_p50_ms": side.get(rep["chosen"], {}).get("p50"),
            "chosen_worst": chosen.get("worst_metric") or chosen.get("worst_cosine"),
            "chosen_map50_95": chosen.get("map50_95"),
            "candidates": [{"label": c["label"], "passed": c["passed"],
                            "p50": side.get(c["label"], {}).get("p50"),
                            "worst": c.get("worst_metric"), "map50_95": c.get("map50_95")}
                           for c in rep["candidates"]]}


def main() -> None:
    import multiprocessing as mp

    from _results import write_results

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--imgsz", type=int, default=320)
    ap.add_argument("--profile", default="intel-cpu-int8")
    ap.add_argument("--time-limit", type=float, default=900)
    ap.add_argument("--max-drop", type=float, default=1.0,
                    help="mAP50-95 points a kept build may lose (tune's --max-drop)")
    ap.add_argument("--min-median-sqnr-db", type=float, default=None,
                    help="tighten the verdict (tune's --min-median-sqnr-db): a team that asks "
                         "more of every site than the default")
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    ap.add_argument("--name", default="tune_pricing")
    a = ap.parse_args()
    ctx = mp.get_context("spawn")  # each run in a fresh process: the switch stays in it
    res: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="edgekit-tunecmp-") as tmp:
        from edgekit import api
        exported = api.export(a.model, "intel-cpu-fp32", imgsz=a.imgsz, out=tmp, parity=False,
                              data=a.data)
        for mode in ("priced", "unpriced"):
            with ctx.Pool(1) as pool:
                res[mode] = pool.apply(_run, (mode, str(exported.bundle), a, f"{tmp}/{mode}"))
        with ctx.Pool(1) as pool:  # a fresh process, as each run had: nothing of the export
            picks = pool.apply(_picks_side_by_side, (res,))
    from edgekit.hostinfo import cpu_info
    doc = {"model": a.model, "imgsz": a.imgsz, "profile": a.profile, "max_drop": a.max_drop,
           "min_median_sqnr_db": a.min_median_sqnr_db,
           "cpu": cpu_info().get("model"), "runs": res, "picks_side_by_side": picks}
    lines = render(doc)
    write_results(a.out, a.name, doc, lines)


def _picks_side_by_side(res: dict[str, Any]) -> dict[str, Any] | None:
    """Where the two runs chose differently: both tuned bundles timed in one interleaved run
    (each with its own profile's settings), the only p50s the two picks can be compared by."""
    from edgekit.bench.run import bench_interleaved
    from edgekit.bundle import load_bundle
    from edgekit.runtimes import RunnerSettings, get_runtime

    if res["priced"]["chosen"] == res["unpriced"]["chosen"]:
        return None
    models, settings, first = {}, {}, None
    for mode, r in res.items():
        b = load_bundle(r["bundle"])
        first = first or b
        backend = b.manifest.profile.runtimes[0]
        models[mode] = (backend, get_runtime(backend).artifact_of(b))
        settings[mode] = RunnerSettings.from_profile(b.manifest.profile)
    assert first is not None
    out = bench_interleaved(models, first, iters=200, rounds=10, warmup=10, settings=settings)
    return {mode: {"chosen": res[mode]["chosen"], "p50": round(v["p50"], 4),
                   "p99": round(v["p99"], 4)} for mode, v in out.items()}


def _ms(v: Any) -> str:
    return "-" if v is None else f"{v:.3f}"


def _worst(w: Any) -> str:
    if isinstance(w, dict) and w.get("value") is not None:
        return f"{w['name']} {w['value']:.1f}"
    return "-" if w is None else str(w)


def render(doc: dict[str, Any]) -> list[str]:
    res = doc["runs"]
    lines = [f"# tune with and without pricing: {Path(doc['model']).name} at {doc['imgsz']} px, "
             f"{doc['profile']}, with --data, --max-drop {doc.get('max_drop', 1.0):g}"
             + (f", --min-median-sqnr-db {doc['min_median_sqnr_db']:g}"
                if doc.get("min_median_sqnr_db") is not None else ""), "",
             f"CPU: **{doc['cpu']}**; the two runs one after the other on the same machine. "
             "Builds: candidates built, parity-checked, evaluated and timed.", "",
             "| run | wall s | builds | prunes skipped | chosen | its p50 ms | its worst site | "
             "its mAP50-95 |", "|---|---:|---:|---:|---|---:|---|---:|"]
    for mode, r in res.items():
        lines.append(f"| {mode} | {r['wall_s']} | {r['builds']} | {r['skipped_prunes']} | "
                     f"{r['chosen']} | {_ms(r['chosen_p50_ms'])} | {_worst(r['chosen_worst'])} "
                     f"| {r['chosen_map50_95']} |")
    picks = doc.get("picks_side_by_side")
    if picks:
        lines += ["", "The two runs chose differently; both tuned bundles timed again in one "
                  "interleaved run (10 rounds, 200 calls):", "", "| run | chosen | p50 ms | "
                  "p99 ms |", "|---|---|---:|---:|"]
        lines += [f"| {m} | {v['chosen']} | {v['p50']:.3f} | {v['p99']:.3f} |"
                  for m, v in picks.items()]
    for mode, r in res.items():
        lines += ["", f"## Candidates, {mode}", "", "| candidate | kept | p50 ms | worst site | "
                  "mAP50-95 |", "|---|---|---:|---|---:|"]
        lines += [f"| {c['label']} | {c['passed']} | {_ms(c['p50'])} | {_worst(c['worst'])} | "
                  f"{c['map50_95']} |" for c in r["candidates"]]
    return lines


def _run(mode: str, bundle: str, a: argparse.Namespace, out: str) -> dict[str, Any]:
    import logging

    logging.basicConfig(format="%(message)s")
    logging.getLogger("edgekit").setLevel(logging.INFO)
    if mode == "unpriced":
        _unpriced()
    from edgekit import api
    t0 = time.perf_counter()
    r = api.tune(bundle, a.profile, out=out, data=a.data, time_limit=a.time_limit,
                 max_drop=a.max_drop, min_median_sqnr_db=a.min_median_sqnr_db)
    return _summary(r.document, time.perf_counter() - t0)


if __name__ == "__main__":
    main()
