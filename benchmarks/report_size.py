#!/usr/bin/env python3
"""How big the `edgekit report` page is and how fast Chromium opens it: a yolo26n and an
RT-DETR bundle, each with a bench and an eval report (the shapes dataset of edgekit.zoo).
Writes benchmarks/results/report_size.md (+ .json) and a full-page screenshot of each page
(report_<model>.png). The models are the zoo's trained test checkpoints.

    python benchmarks/report_size.py [--imgsz 640] [--chromium /usr/bin/chromium]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import edgekit


def models() -> list[tuple[str, str]]:
    """The zoo's trained test checkpoints (trained now if not cached): boxes worth drawing."""
    from edgekit.zoo.train import checkpoints

    yolo, rtdetr = checkpoints(["yolo26n-test", "rtdetr-tiny-test"])
    return [("yolo26n", str(yolo.path)), ("rtdetr-tiny", str(rtdetr.path))]


def open_time(chromium: str, page: Path, shot: Path) -> float:
    """Seconds from navigation to the load event, in headless Chromium (Navigation Timing)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium,
                              args=["--no-sandbox"] if os.geteuid() == 0 else [])
        pg = b.new_page(viewport={"width": 1200, "height": 900})
        pg.goto(page.resolve().as_uri(), wait_until="load")
        ms = pg.evaluate("() => { const t = performance.getEntriesByType('navigation')[0];"
                         " return t.loadEventEnd - t.startTime; }")
        pg.screenshot(path=str(shot), full_page=True)
        b.close()
    return float(ms) / 1000.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--imgsz", type=int, default=640)
    ap.add_argument("--chromium", default="/usr/bin/chromium")
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    ap.add_argument("--work", type=Path, default=None, help="where bundles and pages go "
                    "(default: a temporary folder)")
    a = ap.parse_args()
    if a.work is None:
        import tempfile

        a.work = Path(tempfile.mkdtemp(prefix="edgekit-report-size-"))
    from edgekit.hostinfo import cpu_info
    from edgekit.report import build, check_inputs, write_html
    from edgekit.zoo.train import TEST_DATA, dataset

    data = dataset(TEST_DATA)
    rows = []
    for name, model in models():
        work = a.work / name
        work.mkdir(parents=True, exist_ok=True)
        bundle = edgekit.export(model, "intel-cpu-fp32", imgsz=a.imgsz, out=work,
                                force=True).bundle
        (work / "bench.json").write_text(edgekit.bench(bundle, iters=200).to_json())
        (work / "eval.json").write_text(edgekit.eval(bundle, data).to_json())
        t0 = time.perf_counter()
        rep = build(bundle, check_inputs(bench=[work / "bench.json"], eval=work / "eval.json"))
        page = work / f"report_{name}.html"
        size = write_html(rep, page)
        t_build = time.perf_counter() - t0
        t_open = open_time(a.chromium, page, a.out / f"report_{name}.png")
        rows.append({"model": model, "imgsz": a.imgsz, "bytes": size, "build_s": t_build,
                     "open_s": t_open})
        print(rows[-1], flush=True)
    cpu = cpu_info()
    (a.out / "report_size.json").write_text(json.dumps(rows, indent=2) + "\n")
    lines = ["# `edgekit report`: page size and time to open", "",
             f"CPU: {cpu.get('model') or platform.processor()} ({os.cpu_count()} threads); "
             f"headless Chromium ({a.chromium}); bench 200 iterations, eval on the shapes "
             "val split.", "",
             "| model | imgsz | size | build (s) | open in Chromium (s) |", "|---|---|---|---|---|"]
    lines += [f"| {r['model']} | {r['imgsz']} | {r['bytes'] / 1024:.0f} KiB | "
              f"{r['build_s']:.1f} | {r['open_s']:.2f} |" for r in rows]
    (a.out / "report_size.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
