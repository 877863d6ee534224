"""Eval output: mAP per backend against PyTorch, per class, and the warnings."""

from __future__ import annotations

from typing import Any

from ...eval.report import drop, pct, rows


def render_eval(report: dict[str, Any], console: Any) -> None:
    from rich.markup import escape
    from rich.table import Table

    d = report["data"]
    gate = report["gate"]["max_drop"]
    title = (f"mAP on {escape(d['yaml'])} [{d['split']}], {d['images']} images, "
             f"{d['instances']} objects ({report['precision']}, {report['imgsz']} px)")
    if gate is not None:
        title += f"  gate: drop ≤ {gate:g} pts: " + ("[green]PASS[/]" if report["passed"]
                                                     else "[red]FAIL[/]")
    t = Table(title=title, title_justify="left")
    for col in ("backend", "mAP50-95", "mAP50", "drop (pts)", "detections", "seconds"):
        t.add_column(col, justify="left" if col == "backend" else "right")
    for label, res, ok in rows(report):
        dr = drop(res.get("drop_map50_95"))
        if ok is False:
            dr = f"[red]{dr}[/]"
        t.add_row(escape(label), pct(res.get("map50_95")), pct(res.get("map50")), dr,
                  str(res.get("detections", "-")), f"{res.get('seconds', 0):.1f}")
    console.print(t)
    names = list(next(iter(report["backends"].values()))["per_class"]) if report["backends"] else []
    if names:
        pc = Table(title="mAP50-95 per class", title_justify="left")
        pc.add_column("class")
        pc.add_column("objects", justify="right")
        labelled = rows(report)
        for label, _, _ in labelled:
            pc.add_column(escape(label.split(" ")[0]), justify="right")
        for n in names:
            first = labelled[0][1]["per_class"][n]
            pc.add_row(escape(n), str(first["instances"]),
                       *[pct(r["per_class"][n]["map50_95"]) for _, r, _ in labelled])
        console.print(pc)
    for w in report.get("warnings", []):
        console.print(f"[yellow]warning:[/] {escape(w)}", soft_wrap=True)
