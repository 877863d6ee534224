"""Eval reports: a rich table on stderr, JUnit XML and a GitHub step summary, written with
the parity report's writers (JSON: :func:`edgekit.parity.report.write_json`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

from ..parity.report import write_xml


def _pct(v: Any) -> str:
    return f"{v * 100:.2f}" if isinstance(v, (int, float)) else "-"


def _drop(v: Any) -> str:
    return f"{v:+.2f}" if isinstance(v, (int, float)) else "-"


def rows(report: dict[str, Any]) -> list[tuple[str, dict[str, Any], bool | None]]:
    """(label, result, passed) for the reference and every backend."""
    out: list[tuple[str, dict[str, Any], bool | None]] = []
    ref = report.get("reference")
    if ref:
        out.append((f"torch (reference, {ref.get('origin', 'computed')})", ref, None))
    out += [(name, res, res["passed"]) for name, res in report["backends"].items()]
    return out


def render_table(report: dict[str, Any], console: Any) -> None:
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
        drop = _drop(res.get("drop_map50_95"))
        if ok is False:
            drop = f"[red]{drop}[/]"
        t.add_row(escape(label), _pct(res.get("map50_95")), _pct(res.get("map50")), drop,
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
                       *[_pct(r["per_class"][n]["map50_95"]) for _, r, _ in labelled])
        console.print(pc)
    for w in report.get("warnings", []):
        console.print(f"[yellow]warning:[/] {escape(w)}", soft_wrap=True)


def write_junit(report: dict[str, Any], path: str) -> None:
    suites = ET.Element("testsuites", name="edgekit eval")
    cases = [(n, r) for n, r in report["backends"].items()]
    suite = ET.SubElement(suites, "testsuite", name="eval", tests=str(len(cases)),
                          failures=str(sum(1 for _, r in cases if not r["passed"])))
    for name, res in cases:
        case = ET.SubElement(suite, "testcase", classname="eval", name=f"{name} mAP50-95")
        ET.SubElement(case, "system-out").text = (
            f"mAP50-95 {_pct(res['map50_95'])} mAP50 {_pct(res['map50'])} "
            f"drop {_drop(res.get('drop_map50_95'))} pts")
        if not res["passed"]:
            why = (f"mAP50-95 dropped {res['drop_map50_95']:.2f} points against the reference "
                   f"(allowed {report['gate']['max_drop']:g})")
            ET.SubElement(case, "failure", message=why).text = why
    write_xml(suites, path)


def markdown(report: dict[str, Any]) -> str:
    d = report["data"]
    head = "✅ passed" if report["passed"] else "❌ failed"
    backends = ", ".join(report["backends"])
    lines = [f"### edgekit eval: `{Path(str(report.get('bundle', ''))).name}` on {backends}: "
             f"{head}", "",
             f"`{d['yaml']}` [{d['split']}], {d['images']} images, {d['instances']} objects", "",
             "| backend | mAP50-95 | mAP50 | drop (pts) |", "|---|---|---|---|"]
    for label, res, ok in rows(report):
        lines.append(f"| {label} | {_pct(res.get('map50_95'))} | {_pct(res.get('map50'))} | "
                     f"{_drop(res.get('drop_map50_95'))}{'' if ok is not False else ' ❌'} |")
    return "\n".join(lines) + "\n"
