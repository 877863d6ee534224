"""Profile a bundle (or a bare model file) on each backend's own profiler and attribute the
time: the runtime's hook captures, the runtime's parser makes records, the mapper groups."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import UsageError
from .mapper import Attribution, attribute

log = logging.getLogger(__name__)


@dataclass
class ProfileReport:
    """One :class:`Attribution` per backend profiled, and a one-line note per thing skipped."""

    target: str
    results: dict[str, Attribution]
    notes: list[str] = field(default_factory=list)
    host: dict[str, Any] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return all(a.passed for a in self.results.values())

    def to_json(self) -> dict[str, Any]:
        return {"target": self.target, "host": self.host, "notes": self.notes,
                "passed": self.passed,
                "results": {k: a.to_json() for k, a in self.results.items()}}


def graph_of(onnx_path: Path) -> Any:
    """The ONNX graph (no weights) that records are mapped back to."""
    from .._lazy import require

    onnx = require("onnx", purpose="mapping profiler records to ONNX nodes")
    return onnx.load(str(onnx_path), load_external_data=False)


def from_capture(backend: str, raw: dict[str, Any], model: Any | None,
                 taps: Sequence[Any] = ()) -> Attribution:
    """An attribution from a capture (live, or recorded as a fixture): ``model`` None when
    there is no ONNX to map back to (ops are then grouped by kind only)."""
    from ..runtimes import get_runtime
    from ..runtimes.profiling import OnnxNames

    if model is None:
        from .._lazy import require

        model = require("onnx").helper.make_model(
            require("onnx").helper.make_graph([], "empty", [], []))
    recs = get_runtime(backend).profile_records(raw, OnnxNames(model))
    return attribute(backend, recs, model, taps, raw["profiled_ms"],
                     raw.get("unprofiled_ms", ()), raw.get("settings"))


def profile(target: str | Path, backends: Sequence[str] | None = None, *, iters: int = 50,
            warmup: int = 5, threads: int | None = None, imgsz: int | None = None,
            keep_raw: bool = False) -> ProfileReport:
    """Profile ``target`` on ``backends`` (default: those bench would time that have a
    profiler hook). A backend without a profiler, or a bare file with no ONNX to map back
    to, is a note; :class:`UsageError` when nothing is left to profile."""
    from ..bench.target import default_backends, feed_for, resolve_target
    from ..hostinfo import cpu_info
    from ..runtimes import check_installed, get_runner, get_runtime

    t = resolve_target(target)
    wanted = list(backends) if backends else default_backends(t)
    notes: list[str] = []
    runnable: list[str] = []
    for b in wanted:
        plugin = get_runtime(b)
        if not plugin.profiles:
            notes.append(f"{b}: no profiler hook in edgekit; per-op times skipped")
        elif b not in t.artifacts:
            notes.append(f"{b}: {t.path} has no {b} artifact")
        else:
            runnable.append(b)
    if not runnable:
        raise UsageError(f"nothing to profile in {t.path}: " + "; ".join(notes))
    model, taps = None, []
    if t.bundle is not None:
        model, taps = graph_of(t.bundle.file("model.onnx")), list(t.bundle.manifest.taps)
    elif t.path.suffix.lower() == ".onnx":
        model = graph_of(t.path)
    else:
        notes.append(f"{t.path.name}: a bare model file with no ONNX to map back to; "
                     "grouped by op kind only")
    results: dict[str, Attribution] = {}
    for b in runnable:
        check_installed(b)
        art = t.artifacts[b]
        probe = get_runner(b, art)
        with probe:
            feed = feed_for(probe, t, 1, imgsz)
        log.info(f"profiling {b}: {art} ({iters} iterations, interleaved with an unprofiled run)")
        raw = get_runtime(b).profile_capture(art, feed, iters=iters, warmup=warmup,
                                             threads=threads)
        res = from_capture(b, raw, model, taps)
        if keep_raw:
            res.raw = raw
        results[b] = res
    return ProfileReport(str(t.path), results, notes, {"cpu": cpu_info().get("model")})


def price(int8_target: str | Path, float_target: str | Path, backend: str, *, iters: int = 50,
          warmup: int = 5, threads: int | None = None,
          int8: Attribution | None = None) -> Any:
    """The cost/benefit table of an INT8 bundle against a float bundle of the same model on
    ``backend``: both profiled (``int8``: the INT8 bundle's attribution, already made),
    parity run on the INT8 bundle."""
    from ..bundle import load_bundle
    from ..parity.run import run_parity
    from .costbenefit import cost_benefit

    if int8 is None:
        int8 = profile(int8_target, [backend], iters=iters, warmup=warmup,
                       threads=threads).results[backend]
    f = profile(float_target, [backend], iters=iters, warmup=warmup, threads=threads)
    b = load_bundle(int8_target)
    rep = run_parity(b, b.manifest.profile, [backend])
    return cost_benefit(f.results[backend], int8, rep["backends"][backend], int8.samples_ms)
