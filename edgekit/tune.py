"""``edgekit tune``: find, per attention site, what must stay in float for INT8 to keep parity.

Start from the fully quantized build, run attention parity, keep the first failing site in
float — its softmax alone first, the whole site when that is not enough — and repeat until
every site passes, the sites run out or the time budget does. Every candidate is measured
with the bench machinery. The profile's default scope and (for RT-DETR) the default scope
with the decoder quantized are measured in the same run for comparison. The chosen scope is
written into a new profile YAML and a bundle.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


from ._lazy import require
from .errors import UsageError
from .export.bundle import Bundle, BundleWriter, load_bundle, write_manifest
from .models.preprocess import image_batch, list_images

Log = Any


@dataclass
class Candidate:
    label: str
    float_scope: list[str]
    float_sites: dict[str, str]
    xml: Path | None = None
    passed: bool = False
    worst_cosine: float | None = None
    first_divergent: str | None = None
    failing: list[str] = field(default_factory=list)
    site_passed: dict[str, bool] = field(default_factory=dict)
    p50_ms: float | None = None
    p99_ms: float | None = None
    speedup: float | None = None
    build_s: float = 0.0
    parity: dict[str, Any] | None = None

    def row(self) -> dict[str, Any]:
        d = {k: v for k, v in self.__dict__.items() if k not in ("xml", "parity")}
        return d


class Tuner:
    def __init__(self, bundle: Bundle, profile: Any, work: Path, *, iters: int, warmup: int,
                 threads: int | None, tol_overrides: dict[str, float] | None, log: Log) -> None:
        self.b = bundle
        self.profile = profile
        self.work = work
        self.iters, self.warmup, self.threads = iters, warmup, threads
        self.tol = tol_overrides
        self.log = log
        onnx = require("onnx", purpose="tune")
        self.deployed = onnx.load(str(bundle.file("model.onnx")))
        cal = profile.calibration
        mode = bundle.manifest["input"].get("resize", {}).get("mode", "letterbox")
        self.calib = image_batch(list_images(cal.images), profile.imgsz, count=cal.count, mode=mode)
        self.n = 0

    def _bench(self, xml: Path) -> tuple[float, float]:
        from .bench.run import BenchConfig, Target, bench_backend

        cfg = BenchConfig(warmup=self.warmup, iters=self.iters, threads=self.threads, e2e=False)
        r = bench_backend("openvino", Target(xml, self.b, {"openvino": xml}), cfg)
        return r["model_only"]["p50"], r["model_only"]["p99"]

    def fp32(self) -> Candidate:
        from .export import openvino as ovx
        from .export.bundle import tap_tensors

        c = Candidate("fp32 (no quantization)", [], {})
        c.xml = self.work / "fp32" / "model.xml"
        ovx.save(ovx.convert(self.b.file("model.onnx"), keep_tensors=tap_tensors(self.b.taps)), c.xml)
        c.p50_ms, c.p99_ms = self._bench(c.xml)
        c.passed, c.speedup = True, 1.0
        return c

    def evaluate(self, label: str, scope: list[str], sites: dict[str, str],
                 fp32_p50: float) -> Candidate:
        from .export import openvino as ovx
        from .export.bundle import tap_tensors
        from .export.pipeline import quantize_ir
        from .parity.run import run_parity

        self.n += 1
        c = Candidate(label, list(scope), dict(sites))
        c.xml = self.work / f"c{self.n}" / "model.xml"
        cal = self.profile.calibration.model_copy(update={"float_scope": list(scope),
                                                          "float_sites": dict(sites)})
        t0 = time.perf_counter()
        model = ovx.convert(self.b.file("model.onnx"), keep_tensors=tap_tensors(self.b.taps))
        quantize_ir(model, self.deployed, self.b.taps, cal, self.calib, c.xml, lambda _m: None)
        c.build_s = time.perf_counter() - t0
        manifest = json.loads(json.dumps(self.b.manifest))
        manifest["artifacts"]["openvino"] = str(c.xml.resolve())
        rep = run_parity(Bundle(self.b.path, manifest), self.profile, ["openvino"],
                         tol_overrides=self.tol)
        be = rep["backends"]["openvino"]
        c.parity = rep
        c.passed = be["passed"]
        c.first_divergent = be["first_divergent"]
        c.site_passed = {la["name"]: la["passed"] for la in be["layers"]}
        c.failing = [n for n, ok in c.site_passed.items() if not ok]
        cos = [la["metrics"].get("cosine") for la in be["layers"] if la["metrics"]]
        c.worst_cosine = min(cos) if cos else None
        c.p50_ms, c.p99_ms = self._bench(c.xml)
        c.speedup = fp32_p50 / c.p50_ms if c.p50_ms else None
        self.log(f"  {label}: {'pass' if c.passed else 'FAIL'}, worst cosine "
                 f"{c.worst_cosine if c.worst_cosine is None else round(c.worst_cosine, 5)}, "
                 f"first divergent {c.first_divergent}, p50 {c.p50_ms:.2f} ms "
                 f"({c.speedup:.2f}x fp32)")
        return c


def tune(bundle_path: Path, profile: Any, out: Path, *, time_limit_s: float = 1800,
         iters: int = 50, warmup: int = 5, threads: int | None = None,
         tol_overrides: dict[str, float] | None = None, log: Log = print) -> dict[str, Any]:
    if profile.precision.value != "int8" or [r.value for r in profile.runtimes] != ["openvino"]:
        raise UsageError(f"tune searches OpenVINO INT8 scopes: {profile.name} is "
                         f"{profile.precision.value} on {', '.join(r.value for r in profile.runtimes)}")
    b = load_bundle(bundle_path)
    if profile.imgsz != b.manifest["input"]["imgsz"]:
        profile = profile.model_copy(update={"imgsz": b.manifest["input"]["imgsz"]})
    deadline = time.monotonic() + time_limit_s
    work = out / f".tune-{b.path.name}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    try:
        t = Tuner(b, profile, work, iters=iters, warmup=warmup, threads=threads,
                  tol_overrides=tol_overrides, log=log)
        fp32 = t.fp32()
        log(f"tune: fp32 p50 {fp32.p50_ms:.2f} ms; searching float scopes (seeded, bounded "
            f"by {time_limit_s:.0f} s)")
        attention_sites = [x["name"] for x in b.taps if x["kind"] != "queries"]
        default = list(profile.calibration.float_scope)
        # always-float op types that are not per-site (score sigmoid, top-k)
        base_items = [i for i in default if i in ("topk", "score_sigmoid")]
        tried = [t.evaluate("full int8", base_items, {}, fp32.p50_ms)]
        sites: dict[str, str] = {}
        cur = tried[0]
        while not cur.passed and time.monotonic() < deadline:
            todo = [s for s in attention_sites if not cur.site_passed.get(s, True)
                    and sites.get(s) != "all"]
            if not todo:
                break
            s = todo[0]
            sites[s] = "softmax" if s not in sites else "all"
            cur = t.evaluate(f"+ {s}: {sites[s]}", base_items, sites, fp32.p50_ms)
            tried.append(cur)
            if sites[s] == "softmax" and not cur.site_passed.get(s, True):
                continue  # the next round widens this site to its whole subgraph
        if time.monotonic() < deadline:
            tried.append(t.evaluate("profile default scope", default,
                                    dict(profile.calibration.float_sites), fp32.p50_ms))
        if "decoder" in default and any(x["kind"] == "queries" for x in b.taps) \
                and time.monotonic() < deadline:
            tried.append(t.evaluate("default, decoder quantized",
                                    [i for i in default if i not in ("decoder", "attention")],
                                    {}, fp32.p50_ms))
        passing = [c for c in tried if c.passed]
        if passing:
            chosen = min(passing, key=lambda c: c.p50_ms or 1e9)
            why = (f"the fastest of {len(passing)} configurations where every attention site "
                   "keeps parity")
        else:
            chosen = max(tried, key=lambda c: c.worst_cosine if c.worst_cosine is not None else -2)
            why = ("no configuration kept every site within tolerance; this one has the best "
                   "worst-site cosine")
        report = {"schema": "edgekit.tune/1", "bundle": str(b.path), "profile": profile.name,
                  "fp32": fp32.row(), "candidates": [c.row() for c in tried],
                  "chosen": chosen.label, "why": why, "passed": chosen.passed,
                  "time_limit_s": time_limit_s}
        report["outputs"] = write_result(b, profile, chosen, report, out)
        return report
    finally:
        shutil.rmtree(work, ignore_errors=True)


def write_result(b: Bundle, profile: Any, chosen: Candidate, report: dict[str, Any],
                 out: Path) -> dict[str, str]:
    import yaml

    name = f"{profile.name}-tuned-{b.path.name}"
    data = profile.model_dump(mode="json")
    data["name"] = name
    data["description"] = (f"{profile.description.strip()} Float scope chosen by edgekit tune "
                           f"on {b.path.name}: {chosen.label}.")
    data["calibration"]["float_scope"] = chosen.float_scope
    data["calibration"]["float_sites"] = chosen.float_sites
    out.mkdir(parents=True, exist_ok=True)
    yml = out / f"{name}.yaml"
    tmp = yml.with_suffix(".yaml.tmp")
    tmp.write_text(yaml.safe_dump(data, sort_keys=False))
    tmp.replace(yml)
    dest = out / name
    with BundleWriter(dest) as d:
        for p in b.path.iterdir():
            if p.name in ("manifest.json", "openvino", "parity.json"):
                continue
            (shutil.copytree if p.is_dir() else shutil.copy2)(p, d / p.name)
        shutil.copytree(chosen.xml.parent, d / "openvino")
        (d / "parity.json").write_text(json.dumps(chosen.parity, indent=2) + "\n")
        (d / "tune.json").write_text(json.dumps(report, indent=2) + "\n")
        m = json.loads(json.dumps(b.manifest))
        m["profile"] = data
        m["artifacts"]["openvino"] = "openvino/model.xml"
        m["openvino"] = {"precision": "int8", "converted_from": "model.onnx",
                         "tuned": {"float_scope": chosen.float_scope,
                                   "float_sites": chosen.float_sites}}
        m["parity"] = {"passed": chosen.passed,
                       "first_divergent": {"openvino": chosen.first_divergent}}
        m["reference"] = {**m.get("reference", {})}
        write_manifest(d, m)
    return {"profile": str(yml), "bundle": str(dest)}


def render(report: dict[str, Any], console: Any) -> None:
    from rich.table import Table

    t = Table(title=f"tune: {report['bundle']} ({report['profile']})", title_justify="left")
    for col in ("configuration", "float scope", "worst cos", "first divergent", "p50 ms",
                "p99 ms", "× fp32", "parity"):
        t.add_column(col)
    f = report["fp32"]
    t.add_row("fp32", "everything", "-", "-", f"{f['p50_ms']:.2f}", f"{f['p99_ms']:.2f}", "1.00", "ref")
    for c in report["candidates"]:
        scope = ", ".join(c["float_scope"] + [f"{k}:{v}" for k, v in c["float_sites"].items()]) \
            or "none"
        mark = "→ " if c["label"] == report["chosen"] else ""
        t.add_row(mark + c["label"], scope,
                  "-" if c["worst_cosine"] is None else f"{c['worst_cosine']:.5f}",
                  str(c["first_divergent"]), f"{c['p50_ms']:.2f}", f"{c['p99_ms']:.2f}",
                  f"{c['speedup']:.2f}", "[green]pass[/]" if c["passed"] else "[red]fail[/]")
    console.print(t)
    console.print(f"chosen: [bold]{report['chosen']}[/] — {report['why']}")
    for k, v in report["outputs"].items():
        console.print(f"{k}: {v}")


__all__ = ["render", "tune"]
