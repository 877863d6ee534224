"""Bench reports: tables on stderr, JSON, comparison of several reports, plots."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .._lazy import require


def render(report: dict[str, Any], console: Any) -> None:
    from rich.table import Table

    t = Table(title=f"latency (ms) — {report['target']}", title_justify="left")
    for col in ("backend", "mode", "n", "p50", "p90", "p99", "max", "mean", "CV", "FPS"):
        t.add_column(col, justify="left" if col in ("backend", "mode") else "right")
    for name, r in report["backends"].items():
        for mode in ("model_only", "end_to_end"):
            s = r.get(mode)
            if not s:
                continue
            label = f"{name} {r['precision']}" if r.get("precision") else name
            t.add_row(label, mode.replace("_", "-"), str(s["n"]), f"{s['p50']:.2f}",
                      f"{s['p90']:.2f}", f"{s['p99']:.2f}", f"{s['max']:.2f}", f"{s['mean']:.2f}",
                      f"{s['cv']:.1%}", f"{s['fps']:.1f}")
        st = r.get("end_to_end", {}).get("stages")
        if st:
            t.add_row("", "  stages p50", "", " / ".join(f"{k[:4]} {v['p50']:.2f}" for k, v in st.items()),
                      "", "", "", "", "", "")
    console.print(t)
    tp = report.get("throughput")
    if tp:
        console.print(f"throughput (OpenVINO async, {tp['requests']} requests, batch {tp['batch']}): "
                      f"[bold]{tp['fps']:.1f} FPS[/], request p50 {tp['request_latency']['p50']:.2f} ms")
    v = report.get("verdict", {})
    if v.get("budget_ms"):
        for name, b in v["backends"].items():
            key = f"p{v['percentile']:g}"
            ok = "[green]real-time[/]" if b["realtime"] else "[red]over budget[/]"
            console.print(f"{name}: {b['mode']} {key} {b[key]:.2f} ms vs budget "
                          f"{v['budget_ms']:.2f} ms: {ok}")
    for r in report["backends"].values():
        for w in r.get("warnings", []):
            from rich.markup import escape

            console.print(f"[yellow]warning:[/] {escape(w)}")
    reg = report.get("regression")
    if reg:
        for row in reg["rows"]:
            ok = "[green]ok[/]" if row["passed"] else "[red]REGRESSION[/]"
            console.print(f"{row['backend']} {row['mode']}: p50 {row['p50']:.2f} ms vs baseline "
                          f"{row['baseline_p50']:.2f} ms ({row['change_pct']:+.1f}%, limit "
                          f"+{reg['max_regression_pct']:g}%): {ok}")


def compare(reports: list[tuple[str, dict[str, Any]]], console: Any) -> None:
    from rich.table import Table

    t = Table(title="bench comparison (ms)", title_justify="left")
    for col in ("report", "backend", "mode", "p50", "p99", "FPS", "CV", "vs first p50"):
        t.add_column(col, justify="left" if col in ("report", "backend", "mode") else "right")
    first: dict[tuple[str, str], float] = {}
    for label, rep in reports:
        for name, r in rep.get("backends", {}).items():
            for mode in ("model_only", "end_to_end"):
                s = r.get(mode)
                if not s:
                    continue
                key = (name, mode)
                first.setdefault(key, s["p50"])
                ratio = s["p50"] / first[key] if first[key] else 0.0
                t.add_row(label, name, mode.replace("_", "-"), f"{s['p50']:.2f}", f"{s['p99']:.2f}",
                          f"{s['fps']:.1f}", f"{s['cv']:.1%}", f"{ratio:.2f}×")
    console.print(t)


def plot(report: dict[str, Any], path: str) -> None:
    """A latency CDF and a histogram per backend and mode."""
    matplotlib = require("matplotlib", extra="plot", purpose="--plot")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.5))
    for name, r in report["backends"].items():
        for mode, samples in r.get("samples_ms", {}).items():
            x = np.sort(np.asarray(samples))
            label = f"{name} {mode.replace('_', '-')}"
            ax1.plot(x, np.arange(1, len(x) + 1) / len(x), label=label)
            ax2.hist(x, bins=40, alpha=0.5, label=label)
    budget = report.get("verdict", {}).get("budget_ms")
    for ax in (ax1, ax2):
        if budget:
            ax.axvline(budget, color="red", linestyle="--", label=f"budget {budget:g} ms")
        ax.set_xlabel("latency (ms)")
        ax.legend(fontsize=8)
    ax1.set_ylabel("fraction of runs ≤ x")
    ax1.set_title("latency CDF")
    ax2.set_title("latency histogram")
    fig.tight_layout()
    tmp = Path(path).with_suffix(".tmp.png")
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    tmp.replace(path)
