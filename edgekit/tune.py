"""``edgekit tune``: find, per attention site, what must stay in float for INT8 to keep parity.

Start from the fully quantized build and run attention parity. Take the first failing site
in graph order and ask where its error comes from:

- introduced by the site (its input still matches PyTorch): keep the site's softmax in
  float, then its attention core (score and value MatMuls with the softmax), then the whole
  site;
- inherited (its input already drifts): widen upstream. Every top-level block's outputs
  are compared against the fp32 build of the same runtime, and the block upstream of the
  site that adds the most error is kept whole in float.

Repeat until every site passes, nothing is left to try or the time budget runs out. Every
candidate is measured with the bench machinery. The profile's default scope and, for RT-DETR,
the default scope with the decoder quantized and the decoder alone quantized (everything
upstream float: its own INT8 error) are measured in the same run for comparison.
The chosen scope is written into a new profile YAML and a bundle. The search is
deterministic: NNCF and ONNX Runtime calibrate on a fixed image set, the model seed is the
bundle's, and the order of choices depends only on the measured errors.
"""

from __future__ import annotations

import contextlib
import json
import logging
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ._lazy import require
from .errors import UsageError
from .export.bundle import Bundle, BundleWriter, load_bundle, refuse_existing, write_manifest
from .families import get_family
from .parity.metrics import cosine

log = logging.getLogger(__name__)
BACKENDS = ("openvino", "onnxruntime")
#: passing scopes whose p50 is within this share of the fastest count as tied; the smallest
#: float scope among them is chosen (less float, less to go wrong on another machine)
NEAR_TIE = 0.03


@dataclass
class Candidate:
    label: str
    float_scope: list[str]
    float_sites: dict[str, str]
    float_blocks: list[str] = field(default_factory=list)
    artifact: Path | None = None
    passed: bool = False
    worst_cosine: float | None = None
    first_divergent: str | None = None
    failing: list[str] = field(default_factory=list)
    site_passed: dict[str, bool] = field(default_factory=dict)
    site_cosine: dict[str, float | None] = field(default_factory=dict)
    input_cosine: dict[str, float | None] = field(default_factory=dict)
    block_error: dict[str, float] = field(default_factory=dict)
    p50_ms: float | None = None
    p99_ms: float | None = None
    speedup: float | None = None
    build_s: float = 0.0
    remeasured: bool = False
    parity: dict[str, Any] | None = None

    def row(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k not in ("artifact", "parity")}


@contextlib.contextmanager
def _quiet(logger: str) -> Iterator[None]:
    """Hold back a logger's info lines (its warnings still show) for a while."""
    lg = logging.getLogger(logger)
    level = lg.level
    lg.setLevel(logging.WARNING)
    try:
        yield
    finally:
        lg.setLevel(level)


class Tuner:
    def __init__(self, bundle: Bundle, profile: Any, work: Path, backend: str, *, iters: int,
                 warmup: int, threads: int | None,
                 tol_overrides: dict[str, float] | None) -> None:
        from .export.bundle import tap_tensors
        from .export.pipeline import calibration_batch
        from .export.regions import GraphIndex, block_boundaries, blocks, float_tensor_names
        from .parity.run import load_reference, tolerance_fn

        self.b, self.profile, self.work, self.backend = bundle, profile, work, backend
        self.iters, self.warmup, self.threads = iters, warmup, threads
        self.tol = tol_overrides
        self.tol_of = tolerance_fn(profile, "int8", tol_overrides)
        onnx = require("onnx", purpose="tune")
        self.onnx_path = bundle.file("model.onnx")
        self.deployed = onnx.load(str(self.onnx_path))
        self.gi = GraphIndex(self.deployed)
        self.blocks = blocks(self.gi)  # model.N -> node indices, in graph order
        self.bounds = block_boundaries(self.gi, float_tensor_names(self.deployed))
        # block outputs, plus every site's input (the inherited-error check does not rely
        # on the bundle recording PyTorch references for them)
        self.block_tensors: list[str] = []
        site_inputs = [t for x in bundle.taps for t in x.get("inputs", []) if t != "images"]
        for r in self.bounds.values():
            self.block_tensors += [t for t in r["outputs"] if t not in self.block_tensors]
        self.block_tensors += [t for t in site_inputs if t not in self.block_tensors]
        mode = bundle.manifest["input"].get("resize", {}).get("mode", "letterbox")
        self.calib = calibration_batch(profile, mode)
        self.inputs = load_reference(bundle)["inputs"]
        self.fp32_blocks: dict[str, np.ndarray] = {}
        self.fp32_artifact: Path | None = None
        self.base_ir: Any = None
        if backend == "openvino":
            from .export import openvino as ovx

            self.base_ir = ovx.convert(self.onnx_path,
                                       keep_tensors=tap_tensors(bundle.taps) + self.block_tensors)
        self.n = 0

    # -- measuring ---------------------------------------------------------------------
    def _settings(self, artifact: Path) -> Any:
        """One source for timing and parity: the tuned profile's runtime settings and
        precision policy (the fp32 baseline runs under the fp32 policy)."""
        from .runtimes.base import RunnerSettings

        fp32 = artifact == self.fp32_artifact
        return RunnerSettings.from_profile(self.profile, threads=self.threads,
                                           precision="fp32" if fp32 else None)

    def _bench(self, artifact: Path) -> tuple[float, float]:
        from .bench.run import BenchConfig, Target, bench_backend

        cfg = BenchConfig(warmup=self.warmup, iters=self.iters, threads=self.threads, e2e=False)
        r = bench_backend(self.backend, Target(artifact, self.b, {self.backend: artifact}), cfg,
                          settings=self._settings(artifact))
        return r["model_only"]["p50"], r["model_only"]["p99"]

    def _block_outputs(self, artifact: Path) -> dict[str, np.ndarray]:
        from .parity.run import run_backend
        from .runtimes import get_runner

        runner = get_runner(self.backend, artifact, extra_outputs=self.block_tensors,
                            settings=self._settings(artifact))
        out = run_backend(runner, self.inputs, self.block_tensors)
        return {t: out[t] for t in self.block_tensors if t in out}

    def tensor_errors(self, artifact: Path) -> dict[str, float]:
        """1 - cosine against the fp32 build (worst sample), per diagnostic tensor."""
        got = self._block_outputs(artifact)
        err: dict[str, float] = {"images": 0.0}
        for t, ref in self.fp32_blocks.items():
            if t in got and ref.dtype.kind == "f" and got[t].shape == ref.shape:
                err[t] = max(1.0 - cosine(ref[k], got[t][k]) for k in range(ref.shape[0]))
        return err

    def _added(self, err: dict[str, float]) -> dict[str, float]:
        """Per block, the error it adds: its worst output error minus the worst error of
        what it reads."""
        added = {}
        for b, r in self.bounds.items():
            outs = [err[t] for t in r["outputs"] if t in err]
            if not outs:
                continue
            ins = [err[t] for t in r["inputs"] if t in err]
            added[b] = max(outs) - (max(ins) if ins else 0.0)
        return added

    # -- candidates ----------------------------------------------------------------------
    def fp32(self) -> Candidate:
        c = Candidate("fp32 (no quantization)", [], {})
        if self.backend == "openvino":
            from .export import openvino as ovx

            c.artifact = self.work / "fp32" / "model.xml"
            ovx.save(self.base_ir, c.artifact)
        else:
            c.artifact = self.onnx_path
        self.fp32_artifact = c.artifact
        self.fp32_blocks = self._block_outputs(c.artifact)
        c.p50_ms, c.p99_ms = self._bench(c.artifact)
        c.passed, c.speedup = True, 1.0
        return c

    def _build(self, cal: Any, dst: Path) -> None:
        from .export.pipeline import quantize_ir, quantize_ort

        with _quiet("edgekit.export"):  # the search logs one line per candidate
            if self.backend == "openvino":
                import io

                # NNCF draws progress bars on stdout: dozens of builds would bury the table
                with contextlib.redirect_stdout(io.StringIO()):
                    quantize_ir(self.base_ir.clone(), self.deployed, self.b.taps, cal,
                                self.calib, dst, policy=self.profile.float_policy)
            else:
                quantize_ort(self.onnx_path, self.deployed, self.b.taps, cal, self.calib, dst)

    def evaluate(self, label: str, scope: list[str], sites: dict[str, str], blocks: list[str],
                 fp32_p50: float) -> Candidate:
        from .parity.run import run_parity

        self.n += 1
        c = Candidate(label, list(scope), dict(sites), list(blocks))
        name = "model.xml" if self.backend == "openvino" else "model.int8.onnx"
        c.artifact = self.work / f"c{self.n}" / name
        cal = self.profile.calibration.model_copy(update={
            "float_scope": list(scope), "float_sites": dict(sites), "float_blocks": list(blocks)})
        t0 = time.perf_counter()
        self._build(cal, c.artifact)
        c.build_s = round(time.perf_counter() - t0, 2)
        manifest = json.loads(json.dumps(self.b.manifest))
        manifest["artifacts"][self.backend] = str(c.artifact.resolve())
        rep = run_parity(Bundle(self.b.path, manifest), self.profile, [self.backend],
                         tol_overrides=self.tol)
        be = rep["backends"][self.backend]
        c.parity = rep
        c.passed = be["passed"]
        c.first_divergent = be["first_divergent"]
        for la in be["layers"]:
            c.site_passed[la["name"]] = la["passed"]
            c.site_cosine[la["name"]] = (la["metrics"] or {}).get("cosine")
            c.input_cosine[la["name"]] = (la["metrics"] or {}).get("input_cosine")
        for name_, o in be.get("outputs", {}).items():
            c.site_passed[name_] = o["passed"]
        c.failing = [n for n, ok in c.site_passed.items() if not ok]
        cos = [v for v in c.site_cosine.values() if v is not None]
        c.worst_cosine = min(cos) if cos else None
        err = self.tensor_errors(c.artifact)
        c.block_error = {k: round(v, 6) for k, v in self._added(err).items()}
        for x in self.b.taps:  # sites whose bundle has no PyTorch input reference
            ins = [err[t] for t in x.get("inputs", []) if t in err]
            if c.input_cosine.get(x["name"]) is None and ins and x["name"] in c.site_passed:
                c.input_cosine[x["name"]] = 1.0 - max(ins)
        c.p50_ms, c.p99_ms = self._bench(c.artifact)
        c.speedup = fp32_p50 / c.p50_ms if c.p50_ms else None
        wc = "-" if c.worst_cosine is None else f"{c.worst_cosine:.5f}"
        log.info(f"  {label}: {'pass' if c.passed else 'FAIL'}, worst cosine {wc}, first "
                 f"divergent {c.first_divergent}, p50 {c.p50_ms:.2f} ms "
                 f"({c.speedup:.2f}x fp32)")
        return c

    def side_by_side(self, fp32: Candidate, tried: list[Candidate], references: list[Candidate],
                     rounds: int) -> dict[str, dict[str, Any]]:
        """Re-measure fp32, full INT8, every passing candidate and the reference scopes in one
        interleaved run; their speedups are rewritten from it (the per-candidate timings
        above were taken minutes apart on a shared machine)."""
        from .bench.run import bench_interleaved

        best = least_failing(tried)
        keep = [c for c in tried if c.passed or c is tried[0] or c is best or c in references]
        if not keep:
            return {}
        models = {fp32.label: (self.backend, fp32.artifact)}
        models.update({c.label: (self.backend, c.artifact) for c in keep})
        log.info(f"tune: side-by-side timing of {len(models)} builds in {rounds} interleaved "
                 "rounds")
        res = bench_interleaved(models, self.b, iters=self.iters * 2, rounds=rounds,
                                warmup=self.warmup, threads=self.threads,
                                settings={k: self._settings(a) for k, (_, a) in models.items()})
        base = res[fp32.label]["p50"]
        for c in [fp32, *keep]:
            r = res[c.label]
            c.p50_ms, c.p99_ms = r["p50"], r["p99"]
            c.speedup = base / r["p50"]
            c.remeasured = True
        return {k: {"p50": v["p50"], "p99": v["p99"], "speedup": base / v["p50"]}
                for k, v in res.items()}

    # -- search decisions ------------------------------------------------------------------
    def inherited(self, c: Candidate, site: str, kind: str) -> bool:
        """The site's input already fails the site's cosine tolerance: its error comes from
        upstream, and keeping the site in float cannot fix it."""
        ic = c.input_cosine.get(site)
        return ic is not None and ic < self.tol_of(kind).min_cosine

    def upstream_blocks(self, c: Candidate, site: str, taken: list[str], n: int) -> list[str]:
        """The ``n`` blocks upstream of ``site`` (or of the output) that add the most error."""
        tap = next((t for t in self.b.taps if t["name"] == site), None)
        seeds = (tap.get("inputs") or [tap["tensor"]]) if tap else \
            [o.name for o in self.deployed.graph.output]
        anc = self.gi.ancestors(seeds)
        order = {b: i for i, b in enumerate(self.blocks)}
        options = [b for b, idx in self.blocks.items()
                   if b not in taken and idx & anc and b in c.block_error]
        # most added error first; ties go to the block nearer the site
        options.sort(key=lambda b: (-c.block_error[b], -order[b]))
        return options[:n]


def tune(bundle_path: Path, profile: Any, out: Path, *, time_limit_s: float = 1800,
         iters: int = 50, warmup: int = 5, threads: int | None = None, rounds: int = 5,
         tol_overrides: dict[str, float] | None = None,
         force: bool = False) -> dict[str, Any]:
    runtimes = [r.value for r in profile.runtimes]
    if profile.precision.value != "int8" or len(runtimes) != 1 or runtimes[0] not in BACKENDS:
        raise UsageError(f"tune searches INT8 float scopes on one of {', '.join(BACKENDS)}: "
                         f"{profile.name} is {profile.precision.value} on {', '.join(runtimes)}")
    backend = runtimes[0]
    b = load_bundle(bundle_path)
    if profile.imgsz != b.manifest["input"]["imgsz"]:
        profile = profile.model_copy(update={"imgsz": b.manifest["input"]["imgsz"]})
    if not force:  # before the search, not after it
        refuse_existing(out / tuned_name(profile, b))
    deadline = time.monotonic() + time_limit_s
    work = out / f".tune-{b.path.name}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    try:
        t = Tuner(b, profile, work, backend, iters=iters, warmup=warmup, threads=threads,
                  tol_overrides=tol_overrides)
        fp32 = t.fp32()
        log.info(f"tune ({backend}): fp32 p50 {fp32.p50_ms:.2f} ms; searching float scopes "
            f"(deterministic, bounded by {time_limit_s:.0f} s)")
        kinds = {x["name"]: x["kind"] for x in b.taps}
        attention_sites = [x["name"] for x in b.taps if x["kind"] != "queries"]
        default = list(profile.calibration.float_scope)
        # always-float op types that are not per-site (score sigmoid, top-k)
        base_items = [i for i in default if i in ("topk", "score_sigmoid")]
        decoder_blocks = _decoder_blocks(t) if "decoder" in default else set()
        cur = t.evaluate("full int8", base_items, {}, [], fp32.p50_ms)
        # the reference scopes first, so the budget cannot squeeze them out
        refs = [t.evaluate("profile default scope", default,
                           dict(profile.calibration.float_sites),
                           list(profile.calibration.float_blocks), fp32.p50_ms)]
        if decoder_blocks:
            no_decoder = [i for i in default if i not in ("decoder", "attention")]
            refs.append(t.evaluate("default, decoder quantized", no_decoder, {}, [],
                                   fp32.p50_ms))
            # the decoder's own INT8 error, with nothing upstream of it quantized
            upstream = [b for b in t.blocks if b not in decoder_blocks]
            refs.append(t.evaluate("only the decoder quantized", no_decoder, {}, upstream,
                                   fp32.p50_ms))
        tried = [cur, *refs]
        sites: dict[str, str] = {}
        blocks_kept: list[str] = []
        step = {}  # per site: how many blocks the next upstream widening adds (doubles)
        while not cur.passed and time.monotonic() < deadline:
            failing = [s for s in attention_sites if not cur.site_passed.get(s, True)]
            site = failing[0] if failing else "output0"
            kind = kinds.get(site, "output")
            if site != "output0" and not t.inherited(cur, site, kind) \
                    and sites.get(site) != "all":
                # bisect inside the site: softmax, then the attention core, then all of it
                sites[site] = {None: "softmax", "softmax": "core"}.get(sites.get(site), "all")
                label = f"+ {site}: {sites[site]}"
            else:
                n = step.get(site, 1)
                new = t.upstream_blocks(cur, site, blocks_kept, n)
                if not new:
                    log.info(f"  nothing upstream of {site} is left to keep in float")
                    break
                step[site] = 2 * n
                blocks_kept = blocks_kept + new
                label = f"+ {', '.join(new)} (upstream of {site})"
            cur = t.evaluate(label, base_items, sites, blocks_kept, fp32.p50_ms)
            tried.append(cur)
        if cur.passed and blocks_kept:
            # prune: try giving each float block back to INT8, least error-adding first
            first_err = tried[0].block_error
            for blk in sorted(blocks_kept, key=lambda b: first_err.get(b, 0.0)):
                if time.monotonic() >= deadline:
                    break
                trial = [x for x in blocks_kept if x != blk]
                cand = t.evaluate(f"- block {blk} (prune)", base_items, sites, trial,
                                  fp32.p50_ms)
                tried.append(cand)
                if cand.passed:
                    blocks_kept, cur = trial, cand
        side = t.side_by_side(fp32, tried, refs, rounds)
        passing = [c for c in tried if c.passed]
        if passing:
            def p50(c: Candidate) -> float:
                return side.get(c.label, {}).get("p50", c.p50_ms or 1e9)

            def size(c: Candidate) -> int:
                return len(c.float_blocks) + len(c.float_sites) + len(c.float_scope)

            fastest = min(passing, key=p50)
            near = [c for c in passing if p50(c) <= p50(fastest) * (1 + NEAR_TIE)]
            chosen = min(near, key=lambda c: (size(c), p50(c)))
            why = (f"the smallest float scope within {NEAR_TIE:.0%} of the fastest (side-by-side "
                   f"p50) of {len(passing)} configurations where every attention site keeps "
                   "parity")
        else:
            chosen = least_failing(tried)
            why = ("no configuration kept every site within tolerance; this one fails the "
                   "fewest sites, with the best worst-site cosine among those")
        report = {"schema": "edgekit.tune/2", "bundle": str(b.path), "profile": profile.name,
                  "backend": backend, "fp32": fp32.row(),
                  "candidates": [c.row() for c in tried],
                  "decoder_sites": [x["name"] for x in b.taps
                                    if get_family(b.family).is_decoder_site(x["name"])
                                    and x["kind"] != "queries"],
                  "side_by_side": side,
                  "chosen": chosen.label, "why": why, "passed": chosen.passed,
                  "time_limit_s": time_limit_s,
                  "search_s": round(time_limit_s - (deadline - time.monotonic()), 1)}
        report["outputs"] = write_result(b, profile, chosen, report, out, force=force)
        return report
    finally:
        shutil.rmtree(work, ignore_errors=True)


def least_failing(tried: list[Candidate]) -> Candidate:
    """The candidate failing the fewest sites, the best worst-site cosine among those."""
    return min(tried, key=lambda c: (len(c.failing),
                                     -(c.worst_cosine if c.worst_cosine is not None else -2)))


def _decoder_blocks(t: Tuner) -> set[str]:
    q = [x for x in t.b.taps if x["kind"] == "queries"]
    if not q:
        return set()
    desc = t.gi.descendants([q[0]["tensor"]])
    return {b for b, idx in t.blocks.items() if idx & desc}


def tuned_name(profile: Any, b: Bundle) -> str:
    return f"{profile.name}-tuned-{b.path.name}"


def write_result(b: Bundle, profile: Any, chosen: Candidate, report: dict[str, Any],
                 out: Path, force: bool = False) -> dict[str, str]:
    import yaml

    from .export.pipeline import ORT_INT8

    backend = report["backend"]
    name = tuned_name(profile, b)
    data = profile.model_dump(mode="json")
    data["name"] = name
    data["description"] = (f"{profile.description.strip()} Float scope chosen by edgekit tune "
                           f"on {b.path.name}: {chosen.label}.")
    data["calibration"]["float_scope"] = chosen.float_scope
    data["calibration"]["float_sites"] = chosen.float_sites
    data["calibration"]["float_blocks"] = chosen.float_blocks
    out.mkdir(parents=True, exist_ok=True)
    yml = out / f"{name}.yaml"
    tmp = yml.with_suffix(".yaml.tmp")
    tmp.write_text(yaml.safe_dump(data, sort_keys=False))
    tmp.replace(yml)
    dest = out / name
    skip = {"manifest.json", "openvino", "onnxruntime", "tensorrt", "parity.json", "tune.json"}
    with BundleWriter(dest, force=force) as d:
        for p in b.path.iterdir():
            if p.name in skip:
                continue
            (shutil.copytree if p.is_dir() else shutil.copy2)(p, d / p.name)
        m = json.loads(json.dumps(b.manifest))
        for k in ("openvino", "onnxruntime", "tensorrt"):
            m["artifacts"].pop(k, None)
            m.pop(k, None)
        tuned = {"precision": "int8", "tuned": {"float_scope": chosen.float_scope,
                                                "float_sites": chosen.float_sites,
                                                "float_blocks": chosen.float_blocks}}
        if backend == "openvino":
            shutil.copytree(chosen.artifact.parent, d / "openvino")
            m["artifacts"]["openvino"] = "openvino/model.xml"
            m["openvino"] = {**tuned, "converted_from": "model.onnx"}
        else:
            (d / ORT_INT8).parent.mkdir(parents=True)
            shutil.copy2(chosen.artifact, d / ORT_INT8)
            m["artifacts"]["onnxruntime"] = ORT_INT8
            m["onnxruntime"] = {**tuned, "quantized_from": "model.onnx", "format": "QDQ"}
        (d / "parity.json").write_text(json.dumps(chosen.parity, indent=2) + "\n")
        (d / "tune.json").write_text(json.dumps(report, indent=2) + "\n")
        m["profile"] = data
        m["parity"] = {"passed": chosen.passed,
                       "first_divergent": {backend: chosen.first_divergent}}
        write_manifest(d, m)
    return {"profile": str(yml), "bundle": str(dest)}


def render(report: dict[str, Any], console: Any) -> None:
    from .cli.render.table import WIDE, new_table

    dec = report.get("decoder_sites") or []
    cols = ["configuration", "float scope", "worst cos", "first divergent", "p50 ms", "p99 ms",
            "× fp32", "parity"]
    if dec:
        cols.insert(3, "decoder worst cos")
    title = f"tune: {report['bundle']} ({report['profile']}, {report['backend']})"
    if console.width < WIDE:
        _render_compact(report, console, title, dec)
        _render_notes(report, console, dec)
        return
    t = new_table(title, cols, left=("configuration", "float scope", "first divergent",
                                     "parity"))
    f = report["fp32"]
    t.add_row("fp32", "everything", "-", *(["-"] if dec else []), "-",
              f"{f['p50_ms']:.2f}{'*' if f.get('remeasured') else ''}",
              f"{f['p99_ms']:.2f}", "1.00", "ref")
    for c in report["candidates"]:
        scope = ", ".join(scope_labels(c)) or "none"
        mark = "→ " if c["label"] == report["chosen"] else ""
        extra = []
        if dec:
            dc = decoder_worst(c, dec)
            extra = [decoder_cell(c, dec, dc, ".5f")]
        star = "*" if c.get("remeasured") else ""
        t.add_row(mark + c["label"], scope,
                  "-" if c["worst_cosine"] is None else f"{c['worst_cosine']:.5f}", *extra,
                  str(c["first_divergent"]), f"{c['p50_ms']:.2f}{star}", f"{c['p99_ms']:.2f}",
                  f"{c['speedup']:.2f}", "[green]pass[/]" if c["passed"] else "[red]fail[/]")
    console.print(t)
    _render_notes(report, console, dec)


def _render_compact(report: dict[str, Any], console: Any, title: str, dec: list[str]) -> None:
    """A narrow console: one short paragraph per configuration instead of a wide table."""
    from rich.markup import escape

    console.print(f"[bold]{escape(title)}[/]")
    f = report["fp32"]
    console.print(f"fp32 (everything float): p50 {f['p50_ms']:.2f}"
                  f"{'*' if f.get('remeasured') else ''} ms, p99 {f['p99_ms']:.2f} ms")
    for c in report["candidates"]:
        mark = "→ " if c["label"] == report["chosen"] else ""
        ok = "[green]pass[/]" if c["passed"] else "[red]fail[/]"
        wc = "-" if c["worst_cosine"] is None else f"{c['worst_cosine']:.5f}"
        d = f", decoder worst cosine {decoder_cell(c, dec, decoder_worst(c, dec), '.5f')}" \
            if dec else ""
        console.print(f"{mark}[bold]{escape(c['label'])}[/]: {ok}, worst cosine {wc}{d}, first "
                      f"divergent {c['first_divergent']}; p50 {c['p50_ms']:.2f}"
                      f"{'*' if c.get('remeasured') else ''} ms, p99 {c['p99_ms']:.2f} ms, "
                      f"{c['speedup']:.2f}× fp32")
        console.print(f"    float: {escape(', '.join(scope_labels(c)) or 'none')}")


def _render_notes(report: dict[str, Any], console: Any, dec: list[str]) -> None:
    if report.get("side_by_side"):
        console.print("* timed again side by side, in interleaved rounds of one run; the other "
                      "rows' timings come from the search, minutes apart")
    if dec:
        console.print("≠ queries: the decoder selected a different top-k query set from the "
                      "reference's, so its sites have no element-wise comparison")
    console.print(f"chosen: [bold]{report['chosen']}[/] — {report['why']}")
    for k, v in report["outputs"].items():
        console.print(f"{k}: {v}")


def scope_labels(c: dict[str, Any]) -> list[str]:
    from .export.pipeline import describe_scope

    return describe_scope(c["float_scope"], c["float_sites"], c.get("float_blocks", []))


def decoder_cell(c: dict[str, Any], decoder_sites: list[str], worst: float | None,
                 fmt: str) -> str:
    """A decoder-site cosine for a table; '≠ queries' when the decoder picked a different
    query set (its sites then have no element-wise comparison)."""
    if worst is not None:
        return format(worst, fmt)
    failed = [s for s in decoder_sites if c["site_passed"].get(s) is False]
    return "≠ queries" if failed else "-"


def decoder_worst(c: dict[str, Any], decoder_sites: list[str]) -> float | None:
    vals = [c["site_cosine"].get(s) for s in decoder_sites]
    vals = [v for v in vals if v is not None]
    return min(vals) if vals else None


__all__ = ["decoder_cell", "decoder_worst", "render", "scope_labels", "tune"]
