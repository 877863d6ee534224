"""Bench output: the latency table, stages, throughput, the gates; `bench compare`."""

from __future__ import annotations

from typing import Any

from ...bench.report import results, title
from .table import WIDE, new_table


def render_bench(report: dict[str, Any], console: Any) -> None:
    from rich.markup import escape

    compact = console.width < WIDE
    t = new_table(f"latency (ms) — {escape(title(report))}",
                  ("backend", "mode", "n", "p50", "p90", "p99", "max", "mean", "CV", "FPS"),
                  left=("backend", "mode"), tight=compact)
    for name, mode, s in results(report):
        r = report["backends"][name]
        label = f"{name} {r['precision']}" if r.get("precision") else name
        t.add_row(label, "model" if mode == "model_only" else "e2e", str(s["n"]),
                  f"{s['p50']:.2f}", f"{s['p90']:.2f}", f"{s['p99']:.2f}", f"{s['max']:.2f}",
                  f"{s['mean']:.2f}", f"{s['cv']:.1%}", f"{s['fps']:.1f}")
    console.print(t)
    for name, r in report["backends"].items():
        st = r.get("end_to_end", {}).get("stages")
        if st:
            console.print(f"  {name} e2e stages, p50 ms: "
                          + ", ".join(f"{k} {v['p50']:.2f}" for k, v in st.items()))
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
            console.print(f"[yellow]warning:[/] {escape(w)}")
    reg = report.get("regression")
    if reg:
        for row in reg["rows"]:
            ok = "[green]ok[/]" if row["passed"] else "[red]REGRESSION[/]"
            console.print(f"{row['backend']} {row['mode']}: p50 {row['p50']:.2f} ms vs baseline "
                          f"{row['baseline_p50']:.2f} ms ({row['change_pct']:+.1f}%, limit "
                          f"+{reg['max_regression_pct']:g}%): {ok}")
        if reg.get("not_compared") and reg["rows"]:
            console.print("[yellow]warning:[/] the baseline has no result for "
                          f"{escape(', '.join(reg['not_compared']))}: not compared")


def render_comparison(reports: list[tuple[str, dict[str, Any]]], console: Any) -> None:
    t = new_table("bench comparison (ms)", ("report", "backend", "mode", "p50", "p99", "FPS",
                                            "CV", "vs first p50"),
                  left=("report", "backend", "mode"), tight=console.width < WIDE)
    first: dict[tuple[str, str], float] = {}
    for label, rep in reports:
        for name, mode, s in results(rep):
            key = (name, mode)
            first.setdefault(key, s["p50"])
            ratio = s["p50"] / first[key] if first[key] else 0.0
            t.add_row(label, name, "model" if mode == "model_only" else "e2e",
                      f"{s['p50']:.2f}", f"{s['p99']:.2f}", f"{s['fps']:.1f}", f"{s['cv']:.1%}",
                      f"{ratio:.2f}×")
    console.print(t)
