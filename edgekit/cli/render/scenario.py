"""Scenario output: one row per backend (counts, latency from arrival, the bound, the
validity), then the verdicts, the max sustained FPS and any throttling, in 80 columns."""

from __future__ import annotations

from typing import Any

from ...bench.report import scenario_of, title
from .table import WIDE, new_table


def _ms(v: Any) -> str:
    return f"{v:.1f}" if isinstance(v, int | float) else "-"


def render_scenario(report: dict[str, Any], console: Any) -> None:
    from rich.markup import escape

    pct = report["scenario"]["params"]["percentile"]
    t = new_table(f"{scenario_of(report)} — {escape(title(report))}",
                  ("backend", "offered", "done", "drop", "late", "FPS", "p50", "p99",
                   f"p{pct:g} bound", "result"),
                  left=("backend", "result"), tight=console.width < WIDE)
    for name, r in report["backends"].items():
        res = r["scenario"]
        if "latency" not in res:
            t.add_row(name, "-", "-", "-", "-", "-", "-", "-", "-", res["validity"]["result"])
            continue
        lat = res["latency"]
        bound = res["early_stopping"][f"p{pct:g}"]["bound_ms"]
        t.add_row(f"{name} {r.get('precision', '')}".strip(), str(res["offered"]),
                  str(res["processed"]), str(res["dropped"]), str(res["deadline_misses"]),
                  f"{res['achieved_fps']:.1f}", _ms(lat.get("p50")), _ms(lat.get("p99")),
                  _ms(bound), res["validity"]["result"])
    console.print(t)
    for name, r in report["backends"].items():
        res = r["scenario"]
        v = res["verdict"]
        ok = "[green]passed[/]" if v["passed"] else "[red]failed[/]"
        line = f"{name}: {v['headline']}"
        if "max_sustained_fps" in r:
            line = f"{name}: max sustained {r['max_sustained_fps']:.1f} FPS"
        console.print(f"{line}: {ok}")
        for why in v.get("failed", []):
            console.print(f"  - {escape(why)}")
        if "latency" in res:
            late = res.get("arrival_lateness") or {}
            if late.get("n"):
                console.print(f"  arrival clock lateness p99 {late['p99']:.3f} ms "
                              f"(n={late['n']})")
            th = res.get("throttling", {})
            if th.get("detected"):
                console.print("  [yellow]throttling suspected:[/] "
                              + escape("; ".join(th["reasons"])))
    if report.get("interrupted"):
        console.print("[yellow]interrupted:[/] the results are partial and INVALID")
