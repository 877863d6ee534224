"""Tune's candidates: one build of the bundle per float scope and float precision (INT8 with
its float parts at f32 or bf16; the float model at bf16), built through the runtime
plug-in's :class:`~edgekit.runtimes.Quantizer`, judged by parity against the bundle's
reference and, with a dataset, by its mAP drop against the float build; its error traced
block by block against the float build, and timed."""

from __future__ import annotations

import contextlib
import io
import logging
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .._lazy import require
from ..bundle import Bundle, tap_tensors
from ..errors import UsageError
from ..parity.metrics import cosine
from ..scope import FloatScope

if TYPE_CHECKING:
    from ..eval.data import Dataset
    from ..profiles.schema import Profile
    from ..runtimes import Built, RunnerSettings

log = logging.getLogger(__name__)


@dataclass
class Candidate:
    label: str
    float_scope: list[str]
    float_sites: dict[str, str]
    float_blocks: list[str] = field(default_factory=list)
    #: the build: "int8", or "fp32" (a float build run at ``float_precision``)
    precision: str = "int8"
    #: what the float parts run at (the precision policy)
    float_precision: str = "f32"
    artifact: Path | None = None
    #: the folder its build wrote, laid out as a bundle (``openvino/model.xml``, ...)
    root: Path | None = None
    built: Built | None = None
    #: kept: the parity verdict passes and, when tune has a dataset, the mAP drop is small
    passed: bool = False
    parity_passed: bool = False
    parity_status: str | None = None  # pass, fail, or not_compared (nothing to compare)
    map50_95: float | None = None  # points, on tune's dataset
    map_drop: float | None = None  # points below the float build's
    worst_site: str | None = None  # the site the verdict rates worst
    worst_metric: dict[str, Any] | None = None  # {"name": ..., "value": ...}
    worst_cosine: float | None = None
    first_divergent: str | None = None
    failing: list[str] = field(default_factory=list)
    site_passed: dict[str, bool] = field(default_factory=dict)
    site_cosine: dict[str, float | None] = field(default_factory=dict)
    input_cosine: dict[str, float | None] = field(default_factory=dict)
    block_error: dict[str, float] = field(default_factory=dict)
    p50_ms: float | None = None
    p99_ms: float | None = None
    speedup: float | None = None  # over the float build at f32 (side by side)
    speedup_bf16: float | None = None  # over the float build at bf16, where the CPU has it
    build_s: float = 0.0
    float_nodes: int | None = None  # ONNX nodes kept float (a float build: all of them)
    remeasured: bool = False
    parity: dict[str, Any] | None = None

    @property
    def scope(self) -> FloatScope:
        return FloatScope(tuple(self.float_scope), dict(self.float_sites),
                          tuple(self.float_blocks))

    def float_size(self) -> int:
        """How much stays float: the ONNX nodes kept float (a float build: all of them)."""
        return self.float_nodes if self.float_nodes is not None else self.scope.size()

    def row(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items()
                if k not in ("artifact", "root", "built", "parity")}


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
    """Builds, judges and times candidates of one bundle on one runtime."""

    def __init__(self, bundle: Bundle, profile: Profile, work: Path, backend: str, *,
                 iters: int, warmup: int, threads: int | None,
                 tol_overrides: dict[str, float] | None, data: Dataset | None = None,
                 max_drop: float = 1.0, calibration: list[Path] | None = None) -> None:
        from ..graph import GraphIndex, block_boundaries, blocks, float_tensor_names
        from ..parity.run import load_reference, tolerance_fn
        from ..runtimes import BuildContext, get_runtime

        self.b, self.profile, self.work, self.backend = bundle, profile, work, backend
        self.iters, self.warmup, self.threads = iters, warmup, threads
        self.data, self.max_drop = data, max_drop
        self.ref_map: float | None = None
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
        site_inputs = [t for x in bundle.taps for t in x.inputs if t != "images"]
        for r in self.bounds.values():
            self.block_tensors += [t for t in r["outputs"] if t not in self.block_tensors]
        self.block_tensors += [t for t in site_inputs if t not in self.block_tensors]
        self.inputs = load_reference(bundle)["inputs"]
        self.fp32_blocks: dict[str, np.ndarray] = {}
        self.fp32_artifact: Path | None = None
        # calibration: the given images (tune --data: the dataset's train split), else the
        # profile's folder, else the sample images
        self.ctx = BuildContext(work, profile, self.deployed, bundle.taps,
                                bundle.manifest.input.resize.mode, images=calibration,
                                onnx_path=self.onnx_path)
        quantizer = get_runtime(backend).quantizer(
            self.ctx, [t for t in self.block_tensors if t not in tap_tensors(bundle.taps)])
        if quantizer is None:
            raise UsageError(f"tune: the {backend} runtime does not quantize")
        self.quantizer = quantizer
        self.plugin = get_runtime(backend)
        self.n = 0

    # -- measuring ---------------------------------------------------------------------
    def profile_for(self, c: Candidate) -> Profile:
        """The tuned profile with a candidate's build and float precision: what its parity
        tolerances and runner settings come from."""
        from ..profiles.schema import Precision

        return self.profile.model_copy(update={"precision": Precision(c.precision),
                                               "float_precision": c.float_precision})

    def settings(self, c: Candidate) -> RunnerSettings:
        """One source for timing, parity and accuracy: the tuned profile's runtime settings
        with the candidate's precision policy."""
        from ..runtimes import RunnerSettings

        return RunnerSettings.from_profile(self.profile_for(c), threads=self.threads)

    def bench(self, c: Candidate) -> tuple[float, float]:
        from ..bench.run import BenchConfig, Target, bench_backend

        assert c.artifact is not None
        cfg = BenchConfig(warmup=self.warmup, iters=self.iters, threads=self.threads, e2e=False)
        r = bench_backend(self.backend, Target(c.artifact, self.b, {self.backend: c.artifact}),
                          cfg, settings=self.settings(c))
        return r["model_only"]["p50"], r["model_only"]["p99"]

    def accuracy(self, c: Candidate) -> float | None:
        """mAP50-95 (points) of the candidate on tune's dataset, through the deployment path
        (edgekit eval's), or None without one."""
        if self.data is None:
            return None
        from ..eval.run import predict
        from ..runtimes import get_runner

        assert c.artifact is not None
        with get_runner(self.backend, c.artifact, settings=self.settings(c)) as runner:
            res = predict(runner, self.b.manifest, self.data)
        return None if res["map50_95"] is None else round(100 * res["map50_95"], 2)

    def _block_outputs(self, c: Candidate) -> dict[str, np.ndarray]:
        from ..runtimes import get_runner, run_backend

        assert c.artifact is not None
        runner = get_runner(self.backend, c.artifact, extra_outputs=self.block_tensors,
                            settings=self.settings(c))
        out = run_backend(runner, self.inputs, self.block_tensors)
        return {t: out[t] for t in self.block_tensors if t in out}

    def tensor_errors(self, c: Candidate) -> dict[str, float]:
        """1 - cosine against the fp32 build (worst sample), per diagnostic tensor."""
        got = self._block_outputs(c)
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
    def _artifact(self, c: Candidate, built: Built) -> None:
        c.float_nodes = (len(self.ctx.select(c.scope).nodes) if c.precision == "int8"
                         else len(self.deployed.graph.node))
        c.built = built
        assert c.root is not None
        c.artifact = c.root / built.artifact if built.artifact else self.onnx_path

    def fp32(self) -> Candidate:
        """The float build at f32: the reference for block errors, accuracy and speed."""
        c = Candidate("fp32 (no quantization)", [], {}, precision="fp32", float_precision="f32")
        c.root = self.work / "fp32"
        self._artifact(c, self.quantizer.float_build(c.root, policy="f32"))
        self.fp32_artifact = c.artifact
        self.fp32_blocks = self._block_outputs(c)
        c.map50_95 = self.ref_map = self.accuracy(c)
        c.map_drop = 0.0 if c.map50_95 is not None else None
        c.p50_ms, c.p99_ms = self.bench(c)
        c.passed = c.parity_passed = True
        c.speedup = 1.0
        return c

    def float_at(self, policy: str, fp32_p50: float) -> Candidate:
        """The float build with its float parts at ``policy`` (bf16): a candidate of its own
        (no INT8), and the second speed baseline."""
        self.n += 1
        c = Candidate(f"float, run at {policy} (no INT8)", [], {}, precision="fp32",
                      float_precision=policy)
        c.root = self.work / f"c{self.n}"
        self._artifact(c, self.quantizer.float_build(c.root, policy=policy))
        return self._judge(c, fp32_p50)

    def _build(self, scope: FloatScope, root: Path, policy: str) -> Built:
        # the search logs one line per candidate; NNCF draws progress bars on stdout, and
        # dozens of builds would bury the table
        with _quiet("edgekit.runtimes"), contextlib.redirect_stdout(io.StringIO()):
            return self.quantizer.int8_build(root, scope, policy=policy)

    def evaluate(self, label: str, scope: Sequence[str], sites: Mapping[str, str],
                 blocks: Sequence[str], fp32_p50: float, float_precision: str = "f32") -> Candidate:
        self.n += 1
        c = Candidate(label, list(scope), dict(sites), list(blocks),
                      float_precision=float_precision)
        c.root = self.work / f"c{self.n}"
        t0 = time.perf_counter()
        self._artifact(c, self._build(c.scope, c.root, float_precision))
        c.build_s = round(time.perf_counter() - t0, 2)
        return self._judge(c, fp32_p50)

    def _judge(self, c: Candidate, fp32_p50: float) -> Candidate:
        """Parity against the bundle's reference, accuracy against the float build, the
        error each block adds, and a first timing."""
        from ..parity.run import run_parity

        assert c.artifact is not None
        rep = run_parity(self.b, self.profile_for(c), [self.backend],
                         artifacts={self.backend: c.artifact.resolve()}, tol_overrides=self.tol)
        be = rep["backends"][self.backend]
        c.parity = rep
        c.parity_passed = be["passed"]
        c.parity_status = be.get("status", "pass" if be["passed"] else "fail")
        c.first_divergent = be["first_divergent"]
        worst: tuple[float, str, str] | None = None
        for la in be["layers"]:
            m = la["metrics"] or {}
            c.site_passed[la["name"]] = la["passed"]
            c.site_cosine[la["name"]] = m.get("cosine")
            c.input_cosine[la["name"]] = m.get("input_cosine")
            key = ("median SQNR dB", "sqnr_db_median") if "sqnr_db_median" in m \
                else ("worst-image cosine", "cosine")
            if m.get(key[1]) is not None and (worst is None or m[key[1]] < worst[0]):
                worst = (float(m[key[1]]), la["name"], key[0])
        if worst is not None:
            c.worst_site = worst[1]
            c.worst_metric = {"name": worst[2], "value": round(worst[0], 5)}
        for name_, o in be.get("outputs", {}).items():
            c.site_passed[name_] = o["passed"]
        c.failing = [n for n, ok in c.site_passed.items() if not ok]
        cos = [v for v in c.site_cosine.values() if v is not None]
        c.worst_cosine = min(cos) if cos else None
        c.map50_95 = self.accuracy(c)
        if c.map50_95 is not None and self.ref_map is not None:
            c.map_drop = round(self.ref_map - c.map50_95, 2)
        # with a dataset: the mAP drop on it, and the verdict (a few hundred labelled images
        # can miss what the verdict's per-site evidence sees, and the other way round)
        c.passed = c.parity_passed and (
            self.data is None or (c.map_drop is not None and c.map_drop <= self.max_drop))
        err = self.tensor_errors(c)
        c.block_error = {k: round(v, 6) for k, v in self._added(err).items()}
        for x in self.b.taps:  # sites whose bundle has no PyTorch input reference
            ins = [err[t] for t in x.inputs if t in err]
            if c.input_cosine.get(x.name) is None and ins and x.name in c.site_passed:
                c.input_cosine[x.name] = 1.0 - max(ins)
        c.p50_ms, c.p99_ms = self.bench(c)
        c.speedup = fp32_p50 / c.p50_ms if c.p50_ms else None
        drop = "" if c.map_drop is None else f", mAP drop {c.map_drop:+.2f}"
        log.info(f"  {c.label}: {'kept' if c.passed else 'not kept'}{drop}, parity "
                 f"{(c.parity_status or '').replace('_', ' ')} (first divergent "
                 f"{c.first_divergent}), p50 {c.p50_ms:.2f} ms ({c.speedup or 0:.2f}x fp32)")
        return c

    def side_by_side(self, fp32: Candidate, keep: list[Candidate], rounds: int,
                     bf16: Candidate | None = None) -> dict[str, dict[str, Any]]:
        """Re-measure fp32, the bf16 float build (where the CPU has bf16) and ``keep`` in one
        interleaved run; their speedups over both are rewritten from it (the per-candidate
        timings were taken minutes apart on a shared machine)."""
        from ..bench.run import bench_interleaved

        every = [fp32, *([bf16] if bf16 is not None and bf16 not in keep else []), *keep]
        models: dict[str, tuple[str, Path]] = {}
        for c in every:
            assert c.artifact is not None
            models[c.label] = (self.backend, c.artifact)
        log.info(f"tune: side-by-side timing of {len(models)} builds in {rounds} interleaved "
                 "rounds")
        res = bench_interleaved(models, self.b, iters=self.iters * 2, rounds=rounds,
                                warmup=self.warmup, threads=self.threads,
                                settings={c.label: self.settings(c) for c in every})
        base = res[fp32.label]["p50"]
        base_bf16 = res[bf16.label]["p50"] if bf16 is not None else None
        for c in every:
            r = res[c.label]
            c.p50_ms, c.p99_ms = r["p50"], r["p99"]
            c.speedup = base / r["p50"]
            c.speedup_bf16 = base_bf16 / r["p50"] if base_bf16 else None
            c.remeasured = True
        return {k: {"p50": v["p50"], "p99": v["p99"], "speedup": base / v["p50"],
                    "speedup_bf16": base_bf16 / v["p50"] if base_bf16 else None}
                for k, v in res.items()}

    # -- search decisions ------------------------------------------------------------------
    def inherited(self, c: Candidate, site: str, kind: str) -> bool:
        """The site's input already fails the site's cosine tolerance: its error comes from
        upstream, and keeping the site in float cannot fix it."""
        ic = c.input_cosine.get(site)
        return ic is not None and ic < self.tol_of(kind).min_cosine

    def upstream_blocks(self, c: Candidate, site: str, taken: list[str], n: int) -> list[str]:
        """The ``n`` blocks upstream of ``site`` (or of the output) that add the most error."""
        tap = next((t for t in self.b.taps if t.name == site), None)
        seeds = (tap.inputs or [tap.tensor]) if tap else \
            [o.name for o in self.deployed.graph.output]
        anc = self.gi.ancestors(seeds)
        order = {b: i for i, b in enumerate(self.blocks)}
        options = [b for b, idx in self.blocks.items()
                   if b not in taken and idx & anc and b in c.block_error]
        # most added error first; ties go to the block nearer the site
        options.sort(key=lambda b: (-c.block_error[b], -order[b]))
        if options:
            return options[:n]
        # nothing measurable upstream is left: the block that writes the site (or the
        # output) itself. The last block (RT-DETR's decoder, YOLO's head) hands its
        # outputs to no other block, so it has no added error to rank it by and would
        # otherwise never be kept float, however much of the drop is its own.
        ends = [tap.tensor] if tap else seeds
        own = {i for t in ends if (i := self.gi.producer.get(t)) is not None}
        return [b for b, idx in self.blocks.items() if b not in taken and idx & own][:n]

    def decoder_blocks(self) -> set[str]:
        from ..scope import decoder_blocks

        return decoder_blocks(self.gi, self.b.taps, self.blocks)
