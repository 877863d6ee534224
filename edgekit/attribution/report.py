"""A profile report's markdown (step summary, benchmark results) and its plot."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..runtimes.profiling import KINDS


def _ms(v: float | None) -> str:
    return "-" if v is None else f"{v:.3f}"


def kinds_markdown(results: dict[str, dict[str, Any]]) -> str:
    """Op kind by op kind, one column per backend/build (ms, and the precisions it ran in)."""
    names = list(results)
    lines = ["| kind | " + " | ".join(names) + " |", "|---|" + "---:|" * len(names)]
    rows = [*KINDS, "attributed", "unattributed", "profiled p50", "unprofiled p50"]
    for k in rows:
        cells = []
        for n in names:
            r = results[n]
            if k in KINDS:
                g = next((g for g in r["kinds"] if g["name"] == k), None)
                prec = ", ".join(g["by_precision"]) if g and g["by_precision"] else ""
                cells.append(f"{_ms(g['ms'] if g else 0.0)}" + (f" ({prec})" if prec else ""))
            else:
                key = {"attributed": "attributed_ms", "unattributed": "unattributed_ms",
                       "unprofiled p50": "unprofiled_p50_ms", "profiled p50": "p50_ms"}[k]
                cells.append(_ms(r.get(key)))
        lines.append(f"| {k} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def sites_markdown(result: dict[str, Any]) -> str:
    lines = ["| site | ms | border ms | float share | ops | precisions |",
             "|---|---:|---:|---:|---:|---|"]
    for g in result["sites"]:
        lines.append(f"| {g['name']} | {g['ms']:.3f} | {g['border_ms']:.3f} | "
                     f"{g['float_share']:.0%} | {g['ops']} | {', '.join(g['by_precision'])} |")
    return "\n".join(lines)


def markdown(report: dict[str, Any]) -> str:
    out = [f"### edgekit profile: {report['target']}", "", f"CPU: {report['host'].get('cpu')}", ""]
    out += [f"- {n}" for n in report["notes"]]
    out += ["", kinds_markdown(report["results"]), ""]
    for name, r in report["results"].items():
        cov = f"{r['coverage']:.0%} of the profiled model-only p50 (bound ±{r['bound']:.0%})"
        over = "-" if r["profiler_overhead"] is None else f"{r['profiler_overhead']:+.0%}"
        out += [f"#### {name}: attributed {cov}; profiler overhead {over}", "",
                sites_markdown(r), ""]
    return "\n".join(out)


def plot(report: dict[str, Any], path: str) -> None:
    """Stacked bars: each backend's time by op kind, and by attention site."""
    from .._lazy import require

    matplotlib = require("matplotlib", extra="plot", purpose="--plot")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    res = report["results"]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.8))
    names = list(res)
    for ax, key in ((ax1, "kinds"), (ax2, "sites")):
        labels = [g["name"] for g in next(iter(res.values()))[key]] if res else []
        bottom = [0.0] * len(names)
        for label in labels:
            vals = [next((g["ms"] for g in res[n][key] if g["name"] == label), 0.0)
                    for n in names]
            ax.bar(names, vals, bottom=bottom, label=label)
            bottom = [b + v for b, v in zip(bottom, vals)]
        un = [max(res[n]["unattributed_ms"], 0.0) for n in names]
        ax.bar(names, un, bottom=bottom, label="unattributed", color="lightgrey", hatch="//")
        ax.set_ylabel("ms (median per op)")
        ax.set_title(f"by {key[:-1]}")
        ax.legend(fontsize=7)
    fig.suptitle(f"{report['target']}\n{report['host'].get('cpu')}", fontsize=9)
    fig.tight_layout()
    tmp = Path(path).with_suffix(".tmp.png")
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    tmp.replace(path)
