"""Tune's candidates: one INT8 build of the bundle per float scope, built through the
runtime plug-in's :class:`~edgekit.runtimes.Quantizer`, judged by parity against the bundle's
reference, its error traced block by block against the float build, and timed."""

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
    from ..profiles.schema import Profile
    from ..runtimes import Built, RunnerSettings

log = logging.getLogger(__name__)


@dataclass
class Candidate:
    label: str
    float_scope: list[str]
    float_sites: dict[str, str]
    float_blocks: list[str] = field(default_factory=list)
    artifact: Path | None = None
    #: the folder its build wrote, laid out as a bundle (``openvino/model.xml``, ...)
    root: Path | None = None
    built: Built | None = None
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

    @property
    def scope(self) -> FloatScope:
        return FloatScope(tuple(self.float_scope), dict(self.float_sites),
                          tuple(self.float_blocks))

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
                 tol_overrides: dict[str, float] | None) -> None:
        from ..graph import GraphIndex, block_boundaries, blocks, float_tensor_names
        from ..parity.run import load_reference, tolerance_fn
        from ..runtimes import BuildContext, get_runtime

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
        site_inputs = [t for x in bundle.taps for t in x.inputs if t != "images"]
        for r in self.bounds.values():
            self.block_tensors += [t for t in r["outputs"] if t not in self.block_tensors]
        self.block_tensors += [t for t in site_inputs if t not in self.block_tensors]
        self.inputs = load_reference(bundle)["inputs"]
        self.fp32_blocks: dict[str, np.ndarray] = {}
        self.fp32_artifact: Path | None = None
        self.ctx = BuildContext(work, profile, self.deployed, bundle.taps,
                                bundle.manifest.input.resize.mode, onnx_path=self.onnx_path)
        quantizer = get_runtime(backend).quantizer(
            self.ctx, [t for t in self.block_tensors if t not in tap_tensors(bundle.taps)])
        if quantizer is None:
            raise UsageError(f"tune: the {backend} runtime does not quantize")
        self.quantizer = quantizer
        self.n = 0

    # -- measuring ---------------------------------------------------------------------
    def settings(self, artifact: Path) -> RunnerSettings:
        """One source for timing and parity: the tuned profile's runtime settings and
        precision policy (the fp32 baseline runs under the fp32 policy)."""
        from ..runtimes import RunnerSettings

        fp32 = artifact == self.fp32_artifact
        return RunnerSettings.from_profile(self.profile, threads=self.threads,
                                           precision="fp32" if fp32 else None)

    def bench(self, artifact: Path) -> tuple[float, float]:
        from ..bench.run import BenchConfig, Target, bench_backend

        cfg = BenchConfig(warmup=self.warmup, iters=self.iters, threads=self.threads, e2e=False)
        r = bench_backend(self.backend, Target(artifact, self.b, {self.backend: artifact}), cfg,
                          settings=self.settings(artifact))
        return r["model_only"]["p50"], r["model_only"]["p99"]

    def _block_outputs(self, artifact: Path) -> dict[str, np.ndarray]:
        from ..runtimes import get_runner, run_backend

        runner = get_runner(self.backend, artifact, extra_outputs=self.block_tensors,
                            settings=self.settings(artifact))
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
        c.root = self.work / "fp32"
        c.artifact = self.quantizer.float_build(c.root)
        self.fp32_artifact = c.artifact
        self.fp32_blocks = self._block_outputs(c.artifact)
        c.p50_ms, c.p99_ms = self.bench(c.artifact)
        c.passed, c.speedup = True, 1.0
        return c

    def _build(self, scope: FloatScope, root: Path) -> Built:
        # the search logs one line per candidate; NNCF draws progress bars on stdout, and
        # dozens of builds would bury the table
        with _quiet("edgekit.runtimes"), contextlib.redirect_stdout(io.StringIO()):
            return self.quantizer.int8_build(root, scope)

    def evaluate(self, label: str, scope: Sequence[str], sites: Mapping[str, str],
                 blocks: Sequence[str], fp32_p50: float) -> Candidate:
        from ..parity.run import run_parity

        self.n += 1
        c = Candidate(label, list(scope), dict(sites), list(blocks))
        c.root = self.work / f"c{self.n}"
        t0 = time.perf_counter()
        c.built = self._build(c.scope, c.root)
        assert c.built.artifact is not None
        c.artifact = c.root / c.built.artifact
        c.build_s = round(time.perf_counter() - t0, 2)
        rep = run_parity(self.b, self.profile, [self.backend],
                         artifacts={self.backend: c.artifact.resolve()}, tol_overrides=self.tol)
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
            ins = [err[t] for t in x.inputs if t in err]
            if c.input_cosine.get(x.name) is None and ins and x.name in c.site_passed:
                c.input_cosine[x.name] = 1.0 - max(ins)
        c.p50_ms, c.p99_ms = self.bench(c.artifact)
        c.speedup = fp32_p50 / c.p50_ms if c.p50_ms else None
        wc = "-" if c.worst_cosine is None else f"{c.worst_cosine:.5f}"
        log.info(f"  {label}: {'pass' if c.passed else 'FAIL'}, worst cosine {wc}, first "
                 f"divergent {c.first_divergent}, p50 {c.p50_ms:.2f} ms "
                 f"({c.speedup or 0:.2f}x fp32)")
        return c

    def side_by_side(self, fp32: Candidate, keep: list[Candidate],
                     rounds: int) -> dict[str, dict[str, Any]]:
        """Re-measure fp32 and ``keep`` in one interleaved run; their speedups are rewritten
        from it (the per-candidate timings were taken minutes apart on a shared machine)."""
        from ..bench.run import bench_interleaved

        if not keep:
            return {}
        models: dict[str, tuple[str, Path]] = {}
        for c in [fp32, *keep]:
            assert c.artifact is not None
            models[c.label] = (self.backend, c.artifact)
        log.info(f"tune: side-by-side timing of {len(models)} builds in {rounds} interleaved "
                 "rounds")
        res = bench_interleaved(models, self.b, iters=self.iters * 2, rounds=rounds,
                                warmup=self.warmup, threads=self.threads,
                                settings={k: self.settings(a) for k, (_, a) in models.items()})
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
        tap = next((t for t in self.b.taps if t.name == site), None)
        seeds = (tap.inputs or [tap.tensor]) if tap else \
            [o.name for o in self.deployed.graph.output]
        anc = self.gi.ancestors(seeds)
        order = {b: i for i, b in enumerate(self.blocks)}
        options = [b for b, idx in self.blocks.items()
                   if b not in taken and idx & anc and b in c.block_error]
        # most added error first; ties go to the block nearer the site
        options.sort(key=lambda b: (-c.block_error[b], -order[b]))
        return options[:n]

    def decoder_blocks(self) -> set[str]:
        from ..scope import decoder_blocks

        return decoder_blocks(self.gi, self.b.taps, self.blocks)
