"""Charts as inline SVG, drawn by matplotlib (the page needs no script and no network):
parity along depth, latency distributions and timelines, mAP per class."""

from __future__ import annotations

import io
import re
from typing import TYPE_CHECKING, Any

from .._lazy import require

if TYPE_CHECKING:
    from .model import EvalSection, LatencySeries, ParitySeries

#: colours for pass / fail / the first divergent site / the threshold
PASS, FAIL, FIRST, LIMIT = "#2b8a3e", "#c92a2a", "#e67700", "#495057"


def _plt(salt: str) -> Any:
    mpl = require("matplotlib", extra="plot", purpose="report charts")
    mpl.use("Agg")
    import matplotlib.pyplot as plt

    # text stays text (small, searchable); ids differ per chart, as they share one page
    mpl.rcParams.update({"svg.fonttype": "none", "svg.hashsalt": salt, "font.size": 9,
                         "axes.spines.top": False, "axes.spines.right": False})
    return plt


def svg(fig: Any, salt: str) -> str:
    """The figure as an ``<svg>`` element to inline (no XML prologue, unique ids)."""
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None})
    import matplotlib.pyplot as plt

    plt.close(fig)
    text = buf.getvalue()
    text = text[text.index("<svg"):]
    text = re.sub(r"<metadata>.*?</metadata>\s*", "", text, flags=re.S)  # RDF, Creator URLs
    # matplotlib numbers its elements from 1 in every file: prefix them on a shared page
    return re.sub(r'(id="|url\(#|href="#)', lambda m: f"{m.group(1)}{salt}-", text)


def parity_chart(s: ParitySeries) -> str:
    """Each site's value along the network's depth against its threshold; failing sites in
    red, the first divergent one circled."""
    plt = _plt(f"parity-{s.backend}")
    fig, ax = plt.subplots(figsize=(7.5, 2.8))
    xs = list(range(len(s.sites)))
    vals = [p.value for p in s.sites]
    shown = [(x, v, p) for x, v, p in zip(xs, vals, s.sites, strict=True) if v is not None]
    if s.metric == "cosine_distance":
        ax.set_yscale("log")
        ax.set_ylabel("1 − cosine (lower is better)")
        shown = [(x, max(v, 1e-12), p) for x, v, p in shown]
    else:
        ax.set_ylabel("median SQNR, dB (higher is better)")
    ax.plot([x for x, _, _ in shown], [v for _, v, _ in shown], color="#adb5bd", lw=1, zorder=1)
    ax.scatter([x for x, _, _ in shown], [v for _, v, _ in shown], zorder=2, s=22,
               c=[FAIL if p.status == "fail" else PASS for _, _, p in shown])
    thr = [(x, p.threshold) for x, p in zip(xs, s.sites, strict=True) if p.threshold is not None]
    if thr:
        ax.step([x for x, _ in thr], [t for _, t in thr], where="mid", color=LIMIT, ls="--",
                lw=1, label="threshold")
    for x, v, p in shown:
        if p.first_divergent:
            ax.scatter([x], [v], s=140, facecolors="none", edgecolors=FIRST, lw=2, zorder=3,
                       label=f"first divergent: {p.name}")
            ax.axvline(x, color=FIRST, lw=0.8, alpha=0.6)
    ax.set_xticks(xs)
    ax.set_xticklabels([p.name.removeprefix("model.") for p in s.sites], rotation=60,
                       ha="right", fontsize=7)
    ax.set_xlabel("attention site, in network order")
    if thr or s.first_divergent:
        ax.legend(loc="best", fontsize=7, frameon=False)
    ax.set_title(f"{s.backend}: {s.status}", loc="left")
    return svg(fig, f"parity-{s.backend}")


def latency_chart(series: list[LatencySeries], key: str) -> str:
    """Left: the latency distribution (histogram) of each backend; right: latency over the
    run (by sample, or the scenario's own timeline)."""
    plt = _plt(f"latency-{key}")
    fig, (h, t) = plt.subplots(1, 2, figsize=(9, 2.8), gridspec_kw={"width_ratios": [1, 1.6]})
    for s in series:
        samples = list(s.samples_ms) or [v for _, v in s.timeline]
        lbl = f"{s.backend} {s.mode.replace('_', '-')}"
        if samples:
            h.hist(samples, bins=min(40, max(5, len(samples) // 4)), alpha=0.55, label=lbl)
        pts = s.timeline or tuple(enumerate(samples))
        t.plot([p[0] for p in pts], [p[1] for p in pts], lw=0.8, label=lbl)
        p99 = s.stats.get("p99")
        if isinstance(p99, int | float):
            t.axhline(p99, lw=0.6, ls=":", color=t.lines[-1].get_color())
    h.set_xlabel("latency, ms")
    h.set_ylabel("frames")
    h.legend(fontsize=7, frameon=False)
    t.set_xlabel("time, s" if any(s.timeline for s in series) else "frame")
    t.set_ylabel("latency, ms (dotted: p99)")
    return svg(fig, f"latency-{key}")


def map_chart(ev: EvalSection) -> str:
    """mAP50-95 per class: PyTorch's and each backend's bars side by side."""
    plt = _plt("map")
    sides = list(ev.per_class)
    fig, ax = plt.subplots(figsize=(max(4.0, 0.5 * len(ev.classes) * len(sides) + 2), 2.8))
    width = 0.8 / max(1, len(sides))
    for i, name in enumerate(sides):
        ax.bar([c + i * width for c in range(len(ev.classes))],
               [ev.per_class[name].get(c, 0.0) * 100 for c in ev.classes], width, label=name)
    ax.set_xticks([c + width * (len(sides) - 1) / 2 for c in range(len(ev.classes))])
    ax.set_xticklabels(ev.classes, rotation=30, ha="right")
    ax.set_ylabel("mAP50-95, %")
    ax.legend(fontsize=7, frameon=False)
    return svg(fig, "map")
