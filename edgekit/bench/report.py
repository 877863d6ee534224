"""Bench reports as data: loading and checking them, the step summary, plots (the tables
a person reads are drawn by :mod:`edgekit.cli.render.bench`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .._lazy import require

SCHEMA = "edgekit.bench/1"
MODES = ("model_only", "end_to_end")


def load_report(path: str | Path, what: str = "") -> dict[str, Any]:
    """Read an ``edgekit bench --json`` report; anything else is refused (UsageError, exit 2),
    naming the file and what it lacks: a gate must never pass having compared nothing."""
    import json

    from ..errors import UsageError

    where = f"{what} {path}".strip()
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise UsageError(f"{where}: not a readable bench report: {exc}") from exc
    if not isinstance(doc, dict) or doc.get("schema") != SCHEMA:
        found = doc.get("schema") if isinstance(doc, dict) else None
        raise UsageError(f"{where}: not an edgekit bench report (schema {found or 'missing'}, "
                         f"expected {SCHEMA}; write one with `edgekit bench --json FILE`)")
    backends = doc.get("backends")
    if not isinstance(backends, dict) or not any(
            isinstance(r, dict) and isinstance(r.get(m), dict) and "p50" in r[m]
            for r in backends.values() for m in MODES):
        raise UsageError(f"{where}: an edgekit bench report with no latency results (no "
                         "backend has model-only or end-to-end statistics)")
    return doc


def results(report: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """(backend, mode, statistics) for every latency result of a report."""
    return [(name, mode, r[mode]) for name, r in report.get("backends", {}).items()
            for mode in MODES if isinstance(r.get(mode), dict) and "p50" in r[mode]]


def baseline_results(report: dict[str, Any]) -> str:
    return ", ".join(f"{n} {m.replace('_', '-')}" for n, m, _ in results(report)) or "none"


def scenario_of(report: dict[str, Any]) -> str:
    """What a report timed, for refusing to compare unlike runs: the scenario and its rate
    (a report without one is bench's back-to-back timing, single-stream)."""
    sc = report.get("scenario") or {}
    name = sc.get("name", "single-stream")
    p = sc.get("params") or {}
    if name == "stream" and p.get("find_max_fps"):
        return "stream, max FPS search"
    rate = p.get("fps") if name == "stream" else p.get("qps") if name == "server" else None
    return f"{name} at {rate:g} {'FPS' if name == 'stream' else 'QPS'}" if rate else name


def check_same_scenario(reports: list[tuple[str, dict[str, Any]]]) -> None:
    """Refuse (exit 2) to compare reports of different scenarios or rates: a stream's
    arrival-to-result latency is not a back-to-back latency."""
    from ..errors import UsageError

    seen = [(label, scenario_of(r)) for label, r in reports]
    if len({s for _, s in seen}) > 1:
        raise UsageError("refusing to compare different scenarios: "
                         + "; ".join(f"{label}: {s}" for label, s in seen))


def title(report: dict[str, Any]) -> str:
    m = report.get("model") or {}
    what = Path(report["target"]).name
    if m.get("source"):
        what += f" ({m['source']}, {m.get('profile')}, {m.get('imgsz')}px)"
    return what


def markdown(report: dict[str, Any]) -> str:
    """A GitHub step-summary section: which bundle, which backends, the gates."""
    v = report.get("verdict", {})
    reg = report.get("regression")
    ok = v.get("passed", True) and (reg is None or reg["passed"])
    lines = [f"### edgekit bench: `{title(report)}` on {', '.join(report['backends'])}: "
             f"{'✅ passed' if ok else '❌ failed'}", "",
             "| backend | mode | n | p50 ms | p99 ms | FPS |", "|---|---|---|---|---|---|"]
    for name, mode, s in results(report):
        lines.append(f"| {name} | {mode.replace('_', '-')} | {s['n']} | {s['p50']:.2f} | "
                     f"{s['p99']:.2f} | {s['fps']:.1f} |")
    if report.get("scenario"):
        lines.append(f"\nScenario: {scenario_of(report)}")
        for name, r in report["backends"].items():
            sv = r["scenario"]["verdict"]
            lines.append(f"- {name}: {sv['headline']}, {sv['result']}"
                         + (f" ({'; '.join(sv['failed'])})" if sv["failed"] else ""))
    elif v.get("budget_ms"):
        lines.append(f"\nBudget: p{v['percentile']:g} ≤ {v['budget_ms']:.2f} ms: "
                     f"{'met' if v['passed'] else 'missed'}")
    if reg is not None:
        lines.append(f"\nBaseline: p50 within +{reg['max_regression_pct']:g}%: "
                     f"{'ok' if reg['passed'] else 'regressed or not compared'}")
    return "\n".join(lines) + "\n"


def plot_title(report: dict[str, Any]) -> str:
    """The model, profile and the conditions of the run, for the plot's title."""
    cfg, cond = report.get("config", {}), report.get("conditions", {})
    runs = f"{cfg['iters']} iterations" if cfg.get("iters") else f"{cfg.get('duration_s')} s"
    threads = cfg.get("threads") or "default"
    return (f"{title(report)}\n{(cond.get('cpu') or {}).get('model', '?')}, threads {threads}, "
            f"batch {cfg.get('batch', 1)}, {cfg.get('hint', 'latency')}, {runs}, "
            f"{report.get('created', '')}")


def plot(report: dict[str, Any], path: str) -> None:
    """A latency CDF and a histogram per backend and mode, written to ``path``."""
    save_figure(figure(report), path)


def save_figure(fig: Any, path: str, dpi: int = 110) -> None:
    """Write a matplotlib figure to ``path`` whole (a temporary name, then a rename)."""
    import matplotlib.pyplot as plt

    tmp = Path(path).with_suffix(".tmp.png")
    fig.savefig(tmp, dpi=dpi)
    plt.close(fig)
    tmp.replace(path)


def figure(report: dict[str, Any]) -> Any:
    """The plot's figure: a CDF and a histogram whose bins all series share."""
    matplotlib = require("matplotlib", extra="plot", purpose="--plot")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.8))
    series = [(f"{name} {mode.replace('_', '-')}", np.sort(np.asarray(samples)))
              for name, r in report["backends"].items()
              for mode, samples in r.get("samples_ms", {}).items() if len(samples)]
    # one set of bins for every series, so their bars can be compared
    edges = np.histogram_bin_edges(np.concatenate([x for _, x in series]), bins=40) \
        if series else 40
    for label, x in series:
        ax1.plot(x, np.arange(1, len(x) + 1) / len(x), label=label)
        ax2.hist(x, bins=edges, alpha=0.5, label=label)
    budget = report.get("verdict", {}).get("budget_ms")
    for ax in (ax1, ax2):
        if budget:
            ax.axvline(budget, color="red", linestyle="--", label=f"budget {budget:g} ms")
        ax.set_xlabel("latency (ms)")
        ax.legend(fontsize=8)
    ax1.set_ylabel("fraction of runs ≤ x")
    ax1.set_title("latency CDF")
    ax2.set_title("latency histogram")
    fig.suptitle(plot_title(report), fontsize=10)
    fig.tight_layout()
    return fig
