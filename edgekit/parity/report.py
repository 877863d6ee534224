"""Parity reports as data: JSON, JUnit XML, and a GitHub step summary (the table a person
reads is drawn by :mod:`edgekit.cli.render.parity`)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET


def fmt(v: Any, spec: str) -> str:
    """A number in ``spec``, or "-" for a missing one."""
    return format(v, spec) if isinstance(v, (int, float)) else "-"


def output_status(out: dict[str, Any]) -> str:
    """pass, fail or not_compared (reports written before the status field: from passed)."""
    return out.get("status") or ("pass" if out.get("passed") else "fail")


def backend_status(res: dict[str, Any]) -> str:
    return res.get("status") or ("pass" if res.get("passed") else "fail")


def matched_cell(out: dict[str, Any]) -> str:
    if out.get("check") == "agreement":
        return f"agreement drop {fmt(out.get('agreement_drop'), '.1f')} pts"
    d = out.get("detections", {})
    cell = f"{d.get('matched', 0)} matched"
    if d.get("undecided"):
        cell += f", {d['undecided']} undecided"
    return cell


def gate_summary(report: dict[str, Any]) -> str:
    """Why a parity report did not pass, per backend, in one line."""
    parts = []
    for k, v in report["backends"].items():
        if v["passed"]:
            continue
        if v.get("first_divergent"):
            parts.append(f"{k} first diverges at {v['first_divergent']}")
        elif backend_status(v) == "not_compared":
            parts.append(f"{k}: output0 not compared (nothing to compare is not a pass)")
        else:
            parts.append(f"{k} failed")
    return ", ".join(parts)


def report_json(report: dict[str, Any]) -> str:
    """A report as the JSON text every command writes."""
    return json.dumps(report, indent=2) + "\n"


def write_json(report: dict[str, Any], path: str) -> None:
    """Write the report to ``path``, atomically (never seen half-written)."""
    tmp = Path(path + ".tmp")
    tmp.write_text(report_json(report))
    os.replace(tmp, path)


def write_junit(report: dict[str, Any], path: str) -> None:
    suites = ET.Element("testsuites", name="edgekit parity")
    for backend, res in report["backends"].items():
        cases = [(layer["name"], layer["status"], "; ".join(layer["reasons"]))
                 for layer in res["layers"]]
        out = res["outputs"].get("output0", {})
        cases.append(("output0", output_status(out), "; ".join(out.get("reasons", []))))
        suite = ET.SubElement(suites, "testsuite", name=f"parity.{backend}", tests=str(len(cases)),
                              failures=str(sum(1 for c in cases if c[1] in ("fail", "not_compared"))))
        for name, status, why in cases:
            case = ET.SubElement(suite, "testcase", classname=f"parity.{backend}", name=name)
            if status in ("fail", "not_compared"):
                # not compared fails closed: a CI that gates on the JUnit file fails too
                msg = why[:500] or ("not compared" if status == "not_compared" else "failed")
                ET.SubElement(case, "failure", message=msg, type=status).text = why
    write_xml(suites, path)


def write_xml(root: ET.Element, path: str) -> None:
    """Write an XML tree atomically (a JUnit report is never seen half-written)."""
    tmp = Path(path + ".tmp")
    ET.ElementTree(root).write(tmp, encoding="utf-8", xml_declaration=True)
    os.replace(tmp, path)


def markdown(report: dict[str, Any]) -> str:
    icon = {"pass": "✅ passed", "fail": "❌ failed", "not_compared": "⚠️ not compared (failed)"}
    st = report.get("status") or ("pass" if report["passed"] else "fail")
    backends = ", ".join(report["backends"])
    lines = [f"### edgekit parity: `{Path(report.get('bundle', '')).name}` on {backends} "
             f"({report.get('precision', '?')}): {icon[st]}", ""]
    lines += ["| backend | site | kind | cosine | max abs | verdict |", "|---|---|---|---|---|---|"]
    for backend, res in report["backends"].items():
        for layer in res["layers"]:
            m = layer["metrics"]
            lines.append(f"| {backend} | `{layer['name']}` | {layer['kind']} | "
                         f"{fmt(m.get('cosine'), '.6f')} | {fmt(m.get('max_abs'), '.2e')} | "
                         f"{layer['status']} |")
        out = res["outputs"].get("output0", {})
        lines.append(f"| {backend} | `output0` | detections | {matched_cell(out)} | | "
                     f"{output_status(out).replace('_', ' ')} |")
        if res.get("first_divergent"):
            lines.append(f"\nFirst divergent on {backend}: `{res['first_divergent']}`\n")
    return "\n".join(lines) + "\n"


def append_step_summary(text: str) -> str | None:
    """Append markdown to ``$GITHUB_STEP_SUMMARY`` when set. An optional report: a failure
    is returned as a warning for the caller to print, never raised, so it cannot change a
    gate's verdict or exit code."""
    path = os.environ.get("GITHUB_STEP_SUMMARY")
    if not path:
        return None
    try:
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(text)
    except OSError as exc:
        return f"GITHUB_STEP_SUMMARY {path}: not written ({exc.strerror or exc})"
    return None
