"""Profile output: per backend, time by op kind, by attention site and the slowest ops."""

from __future__ import annotations

from typing import Any

from .table import WIDE, new_table


def render_profile(report: dict[str, Any], console: Any, *, top: int = 10) -> None:
    from rich.markup import escape

    tight = console.width < WIDE
    for name, r in report["results"].items():
        over = "-" if r["profiler_overhead"] is None else f"{r['profiler_overhead']:+.0%}"
        ok = "[green]within[/]" if r["passed"] else "[yellow]outside[/]"
        console.print(f"[bold]{escape(name)}[/]: attributed {r['attributed_ms']:.3f} ms of the "
                      f"profiled model-only p50 {r['p50_ms']:.3f} ms "
                      f"({r['coverage']:.0%}, {ok} ±{r['bound']:.0%}); unattributed "
                      f"{r['unattributed_ms']:.3f} ms; profiler overhead {over}")
        t = new_table("by kind (ms)", ("kind", "ms", "ops", "precisions"),
                      left=("kind", "precisions"), tight=tight)
        for g in r["kinds"]:
            if g["ops"]:
                t.add_row(g["name"], f"{g['ms']:.3f}", str(g["ops"]),
                          ", ".join(f"{k} {v:.2f}" for k, v in g["by_precision"].items()))
        console.print(t)
        t = new_table("by attention site (ms)", ("site", "ms", "border", "float", "ops"),
                      left=("site",), tight=tight)
        for g in r["sites"]:
            t.add_row(escape(g["name"]), f"{g['ms']:.3f}", f"{g['border_ms']:.3f}",
                      f"{g['float_share']:.0%}", str(g["ops"]))
        console.print(t)
        t = new_table("by block (ms)", ("block", "ms", "ops"), left=("block",), tight=tight)
        for g in r["blocks"]:
            t.add_row(escape(g["name"]), f"{g['ms']:.3f}", str(g["ops"]))
        console.print(t)
        if top:
            t = new_table(f"slowest {top} ops", ("op", "type", "kind", "precision", "kernel",
                                                 "ms"),
                          left=("op", "type", "kind", "precision", "kernel"), tight=tight)
            for o in r["top_ops"][:top]:
                t.add_row(escape(o["name"]), o["op_type"], o["kind"], o["precision"],
                          escape(o.get("kernel") or "-"), f"{o['time_ms']:.3f}")
            console.print(t)
        for n in r["notes"]:
            console.print(f"  note: {escape(n)}")
