"""The fleet report as a terminal table, and the progress lines of `fleet run`."""

from __future__ import annotations

from typing import Any

from .table import new_table

STATE_STYLE = {"ok": "green", "gate failed": "yellow", "failed": "red", "no device": "magenta",
               "lost": "red"}


def render_fleet(console: Any, rep: dict[str, Any]) -> None:
    from rich.markup import escape

    from ...fleet.report import COLUMNS, fmt

    cols = [c for c in COLUMNS if c != "note"]
    t = new_table("edgekit fleet", cols, left=("cell", "device", "node", "state", "parity"))
    for r in rep["rows"]:
        style = STATE_STYLE.get(r["state"], "")
        t.add_row(*[f"[{style}]{r['state']}[/]" if c == "state" and style else escape(fmt(r[c]))
                    for c in cols])
    console.print(t)
    for r in rep["rows"]:
        if r["note"]:
            log = f" (log: {r['log']})" if r.get("log") else ""
            console.print(f"  {escape(r['cell'])}: {escape(r['note'])}{escape(log)}", soft_wrap=True)
    states = ", ".join(f"{n} {s}" for s, n in sorted(rep["states"].items()))
    console.print(f"cells: {states}" + (f"; missing: {', '.join(rep['missing'])}" if rep["missing"] else ""))
    base = rep.get("baseline")
    if base:
        moved = ", ".join(f"{k}: {v}" for k, v in sorted(base["buckets"].items()))
        console.print("against the baseline: " + (moved or "no cell moved 1.1x or more"))
        for cid, c in base["cells"].items():
            if c["bucket"] or c["newly_failing"]:
                what = c["bucket"] or f"newly failing (was {c['was']})"
                ratio = f" ({c['ratio']:.2f}x p50)" if c["ratio"] else ""
                console.print(f"  {escape(cid)}: {what}{ratio}")
        for key in ("newly_failing", "new_devices", "missing_devices"):
            if base[key]:
                console.print(f"{key.replace('_', ' ')}: {', '.join(base[key])}")


class Progress:
    """One line per cell whose state changed, and a running count: readable in a CI log."""

    def __init__(self, console: Any) -> None:
        self.console, self.last = console, {}  # type: ignore[var-annotated]

    def __call__(self, states: dict[str, str]) -> None:
        done = sum(1 for s in states.values() if s in STATE_STYLE or s.startswith("resumed"))
        for cid, s in states.items():
            if self.last.get(cid) != s and s != "pending":
                style = STATE_STYLE.get(s, "dim")
                self.console.print(f"[{done}/{len(states)}] {cid}: [{style}]{s}[/]", soft_wrap=True)
        self.last = dict(states)
