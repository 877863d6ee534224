"""The report's data: plain frozen dataclasses built from the JSON documents the commands
write (parity, bench, eval, tune, a fleet's) and from the bundle's manifest. Renderers (the
HTML page, :mod:`edgekit.report.html`) read only these; nothing here draws."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

    from ..bundle import Bundle

__all__ = ["Box", "BundleSection", "EvalSection", "LatencySeries", "Overlay", "ParitySeries",
           "Report", "SitePoint", "Table", "bundle_section", "eval_section", "latency_series",
           "parity_series", "table"]


@dataclass(frozen=True)
class BundleSection:
    path: str
    model: str
    family: str
    random_weights: bool
    profile: str
    precision: str
    imgsz: int
    #: per runtime: the artifact and the precision in force its build recorded
    runtimes: dict[str, dict[str, Any]]
    versions: dict[str, str | None]
    files: dict[str, str]  # relative path -> sha256
    created: str
    edgekit: str
    notes: tuple[str, ...] = ()
    names: dict[str, str] = field(default_factory=dict)  # class id -> name


@dataclass(frozen=True)
class SitePoint:
    """One attention site of one backend: its value against its threshold."""

    name: str
    kind: str
    depth: int  # position along the network (graph order)
    value: float | None  # the plotted metric (see ParitySeries.metric)
    threshold: float | None
    status: str  # pass, fail, degenerate...
    first_divergent: bool = False


@dataclass(frozen=True)
class ParitySeries:
    backend: str
    passed: bool
    status: str
    verdict: str  # per_image: cosine per image; median: median SQNR over real images
    metric: str  # "sqnr_db" (higher is better) or "cosine_distance" (1 - cosine, lower is better)
    first_divergent: str | None
    sites: tuple[SitePoint, ...]
    outputs: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Box:
    xyxy: tuple[float, float, float, float]
    cls: int
    score: float
    status: str  # matched | missing (PyTorch has it, the runtime not) | extra (the reverse)


@dataclass(frozen=True)
class Overlay:
    """One reference image with PyTorch's boxes and each runtime's, matched. A runtime's
    boxes are its own (matched or extra) and PyTorch's that it did not draw (missing)."""

    label: str
    image: np.ndarray  # (H, W, 3) uint8 RGB, the letterboxed model input
    reference: tuple[Box, ...]
    runtimes: dict[str, tuple[Box, ...]]

    def count(self, runtime: str, status: str) -> int:
        return sum(b.status == status for b in self.runtimes[runtime])


@dataclass(frozen=True)
class LatencySeries:
    backend: str
    mode: str  # model_only | end_to_end
    scenario: str
    stats: dict[str, Any]
    samples_ms: tuple[float, ...]
    #: (time s, latency ms) pairs when the report carries a timeline, else by sample index
    timeline: tuple[tuple[float, float], ...] = ()
    source: str = ""


@dataclass(frozen=True)
class EvalSection:
    classes: tuple[str, ...]
    #: "pytorch" (the reference, when there is one) and each backend: mAP50-95 per class
    per_class: dict[str, dict[str, float]]
    overall: dict[str, dict[str, float | None]]  # name -> map50_95, map50, drop_map50_95
    passed: bool
    data: str


@dataclass(frozen=True)
class Table:
    title: str
    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    note: str = ""


@dataclass(frozen=True)
class Report:
    bundle: BundleSection
    parity: tuple[ParitySeries, ...]
    parity_source: str
    overlays: tuple[Overlay, ...] = ()
    overlay_note: str = ""
    latency: tuple[LatencySeries, ...] = ()
    accuracy: EvalSection | None = None
    tune: Table | None = None
    fleet: Table | None = None
    given: dict[str, str] = field(default_factory=dict)  # section -> where its data came from


def bundle_section(b: Bundle) -> BundleSection:
    m = b.manifest
    runtimes = {}
    for name in dict.fromkeys([*m.profile.runtimes, *m.runtimes]):
        sec = m.runtime(name) or {}
        keep = {k: v for k, v in sec.items() if isinstance(v, str | int | float | bool)}
        art = b.artifact(name)
        keep.setdefault("artifact", art.relative_to(b.path).as_posix() if art else "none")
        keep.setdefault("precision", m.profile.precision.value)
        if m.profile.float_policy:
            keep.setdefault("float_precision", m.profile.float_policy)
        runtimes[name] = keep
    return BundleSection(
        path=str(b.path), model=m.source.spec, family=m.source.family,
        random_weights=m.source.random_weights, profile=m.profile.name,
        precision=m.profile.precision.value, imgsz=m.input.imgsz, runtimes=runtimes,
        versions=dict(m.versions), files=dict(m.files), created=m.created, edgekit=m.edgekit,
        notes=tuple(m.notes), names=dict(m.names))


def _finite(v: Any) -> float | None:
    return float(v) if isinstance(v, int | float) and math.isfinite(v) else None


def parity_series(doc: dict[str, Any], tolerance: Any = None) -> tuple[ParitySeries, ...]:
    """Per backend, its sites along depth. ``tolerance(kind, verdict)`` gives a site's
    Tolerance (the bundle profile's), for the threshold line; None leaves it out."""
    out = []
    for name, r in doc.get("backends", {}).items():
        verdict = r.get("verdict", "per_image")
        metric = "sqnr_db" if verdict == "median" else "cosine_distance"
        sites = []
        for i, layer in enumerate(r.get("layers", [])):
            m = layer.get("metrics") or {}
            tol = tolerance(layer.get("kind", "default")) if tolerance else None
            if metric == "sqnr_db":
                value = _finite(m.get("sqnr_db_median"))
                thr = _finite(getattr(tol, "min_median_sqnr_db", None))
            else:
                cos = _finite(m.get("cosine"))
                value = None if cos is None else max(1.0 - cos, 0.0)
                mc = _finite(getattr(tol, "min_cosine", None))
                thr = None if mc is None else 1.0 - mc
            sites.append(SitePoint(
                name=layer["name"], kind=layer.get("kind", ""),
                depth=int(layer.get("graph_index", i)) if layer.get("graph_index", -1) >= 0
                else i, value=value, threshold=thr, status=layer.get("status", ""),
                first_divergent=layer["name"] == r.get("first_divergent")))
        outs = {k: v.get("detections", {}) for k, v in (r.get("outputs") or {}).items()
                if isinstance(v, dict)}
        out.append(ParitySeries(name, bool(r.get("passed")), r.get("status", ""), verdict,
                                metric, r.get("first_divergent"), tuple(sites), outs))
    return tuple(out)


def _timeline(r: dict[str, Any], mode: str) -> tuple[tuple[float, float], ...]:
    """A scenario's timeline when the report has one: a list of numbers (latencies), of
    pairs, or of records with a time and a latency field."""
    tl = r.get("timeline")
    if isinstance(tl, dict):
        tl = tl.get(mode, tl.get("samples"))
    if not isinstance(tl, list):
        return ()
    pts: list[tuple[float, float]] = []
    for i, x in enumerate(tl):
        if isinstance(x, int | float):
            pts.append((float(i), float(x)))
        elif isinstance(x, list | tuple) and len(x) >= 2:
            pts.append((float(x[0]), float(x[1])))
        elif isinstance(x, dict):
            nums = [float(v) for v in x.values() if isinstance(v, int | float)]
            lat = next((float(v) for k, v in x.items() if "lat" in k and
                        isinstance(v, int | float)), nums[-1] if nums else None)
            t = next((float(v) for k, v in x.items() if k.startswith(("t", "arriv", "start"))
                      and isinstance(v, int | float)), float(i))
            if lat is not None:
                pts.append((t, lat))
    return tuple(pts)


def latency_series(doc: dict[str, Any], source: str = "") -> tuple[LatencySeries, ...]:
    scenario = str(doc.get("scenario") or "single-stream")
    if isinstance(doc.get("scenario"), dict):
        scenario = str(doc["scenario"].get("name", "scenario"))
    out = []
    for name, r in doc.get("backends", {}).items():
        for mode in ("model_only", "end_to_end"):
            stats = r.get(mode)
            if not isinstance(stats, dict) or "p50" not in stats:
                continue
            samples = (r.get("samples_ms") or {}).get(mode) or []
            out.append(LatencySeries(name, mode, str(r.get("scenario") or scenario), stats,
                                     tuple(float(s) for s in samples), _timeline(r, mode),
                                     source))
    return tuple(out)


def eval_section(doc: dict[str, Any]) -> EvalSection:
    names = doc.get("data", {}).get("names") or {}
    per: dict[str, dict[str, float]] = {}
    overall: dict[str, dict[str, float | None]] = {}
    sides = ([("pytorch", doc["reference"])] if isinstance(doc.get("reference"), dict) else [])
    sides += list(doc.get("backends", {}).items())
    for name, r in sides:
        pc = r.get("per_class") or {}
        per[name] = {c: float(v["map50_95"]) for c, v in pc.items()
                     if isinstance(v, dict) and v.get("map50_95") is not None}
        overall[name] = {k: _finite(r.get(k)) for k in ("map50_95", "map50", "drop_map50_95")}
    classes = [c for c in names.values() if any(c in p for p in per.values())]
    classes += sorted({c for p in per.values() for c in p} - set(classes))
    return EvalSection(tuple(classes), per, overall, bool(doc.get("passed", True)),
                       str(doc.get("data", {}).get("yaml", "")))


def _cell(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, list | tuple):
        return ", ".join(_cell(x) for x in v) if len(v) <= 6 else f"{len(v)} items"
    if isinstance(v, dict):
        return ", ".join(f"{k}={_cell(x)}" for k, x in list(v.items())[:6])
    return "" if v is None else str(v)


def table(title: str, rows: list[dict[str, Any]], note: str = "",
          columns: list[str] | None = None) -> Table:
    """A table of records: the given columns, else every key in order of first appearance."""
    cols = list(columns or [])
    if not cols:
        for r in rows:
            cols += [k for k in r if k not in cols]
    return Table(title, tuple(cols), tuple(tuple(_cell(r.get(c)) for c in cols) for r in rows),
                 note)
