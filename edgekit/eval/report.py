"""Eval reports as data: JUnit XML and a GitHub step summary, written with
the parity report's writers (JSON: :func:`edgekit.parity.report.write_json`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

from ..parity.report import write_xml


def pct(v: Any) -> str:
    return f"{v * 100:.2f}" if isinstance(v, (int, float)) else "-"


def drop(v: Any) -> str:
    return f"{v:+.2f}" if isinstance(v, (int, float)) else "-"


def rows(report: dict[str, Any]) -> list[tuple[str, dict[str, Any], bool | None]]:
    """(label, result, passed) for the reference and every backend."""
    out: list[tuple[str, dict[str, Any], bool | None]] = []
    ref = report.get("reference")
    if ref:
        out.append((f"torch (reference, {ref.get('origin', 'computed')})", ref, None))
    out += [(name, res, res["passed"]) for name, res in report["backends"].items()]
    return out


def write_junit(report: dict[str, Any], path: str) -> None:
    suites = ET.Element("testsuites", name="edgekit eval")
    cases = [(n, r) for n, r in report["backends"].items()]
    suite = ET.SubElement(suites, "testsuite", name="eval", tests=str(len(cases)),
                          failures=str(sum(1 for _, r in cases if not r["passed"])))
    for name, res in cases:
        case = ET.SubElement(suite, "testcase", classname="eval", name=f"{name} mAP50-95")
        ET.SubElement(case, "system-out").text = (
            f"mAP50-95 {pct(res['map50_95'])} mAP50 {pct(res['map50'])} "
            f"drop {drop(res.get('drop_map50_95'))} pts")
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
        lines.append(f"| {label} | {pct(res.get('map50_95'))} | {pct(res.get('map50'))} | "
                     f"{drop(res.get('drop_map50_95'))}{'' if ok is not False else ' ❌'} |")
    return "\n".join(lines) + "\n"
