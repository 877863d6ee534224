"""Parity reports: a rich table on stderr, JSON, JUnit XML, and a GitHub step summary."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET


def _fmt(v: Any, spec: str) -> str:
    return format(v, spec) if isinstance(v, (int, float)) else "-"


def render_table(report: dict[str, Any], console: Any = None) -> None:
    from rich.markup import escape
    from rich.table import Table

    if console is None:
        from ..cli._common import err_console

        console = err_console()
    for backend, res in report["backends"].items():
        verdict = "[green]PASS[/]" if res["passed"] else "[red]FAIL[/]"
        title = f"{backend} ({report['precision']}) vs PyTorch fp32: {verdict}"
        if res.get("first_divergent"):
            title += f"  first divergent: [bold]{res['first_divergent']}[/]"
        t = Table(title=title, title_justify="left")
        for col in ("site", "kind", "cosine", "in cos", "max abs", "rel L2", "beyond tol", "NaN/Inf",
                    "verdict"):
            t.add_column(col, justify="left" if col in ("site", "kind") else "right")
        for layer in res["layers"]:
            m = layer["metrics"]
            st = {"pass": "[green]pass[/]", "fail": "[red]FAIL[/]",
                  "degenerate": "[yellow]degenerate[/]"}[layer["status"]]
            t.add_row(layer["name"], layer["kind"], _fmt(m.get("cosine"), ".6f"),
                      _fmt(m.get("input_cosine"), ".6f"), _fmt(m.get("max_abs"), ".2e"), _fmt(m.get("rel_l2"), ".2e"),
                      _fmt(m.get("beyond_tol_frac"), ".2%"),
                      f"{int(m.get('nan', 0))}/{int(m.get('inf', 0))}" if m else "-", st)
        out = res["outputs"].get("output0", {})
        d = out.get("detections", {})
        t.add_row("output0", "detections",
                  f"{d.get('matched', 0)} matched", "", f"{_fmt(d.get('max_box_shift_px'), '.2f')}px",
                  f"Δscore {_fmt(d.get('max_score_diff'), '.3f')}",
                  f"{d.get('missing', 0)} miss/{d.get('extra', 0)} extra", "",
                  "[green]pass[/]" if out.get("passed") else "[red]FAIL[/]")
        console.print(t)
        for layer in res["layers"]:
            if not layer["passed"]:
                console.print(f"  [red]{layer['name']}[/]: " + escape("; ".join(layer["reasons"][:3])))
        for r in out.get("reasons", []):
            console.print(f"  [red]output0[/]: {escape(r)}")
        if res.get("error"):
            console.print(f"  [red]error[/]: {escape(str(res['error']))}")


def write_json(report: dict[str, Any], path: str) -> None:
    text = json.dumps(report, indent=2) + "\n"
    if path == "-":
        import sys

        sys.stdout.write(text)
        return
    tmp = Path(path + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def write_junit(report: dict[str, Any], path: str) -> None:
    suites = ET.Element("testsuites", name="edgekit parity")
    for backend, res in report["backends"].items():
        cases = [(layer["name"], layer["passed"], "; ".join(layer["reasons"])) for layer in res["layers"]]
        out = res["outputs"].get("output0", {})
        cases.append(("output0", bool(out.get("passed")), "; ".join(out.get("reasons", []))))
        suite = ET.SubElement(suites, "testsuite", name=f"parity.{backend}", tests=str(len(cases)),
                              failures=str(sum(1 for c in cases if not c[1])))
        for name, ok, why in cases:
            case = ET.SubElement(suite, "testcase", classname=f"parity.{backend}", name=name)
            if not ok:
                ET.SubElement(case, "failure", message=why[:500] or "failed").text = why
    write_xml(suites, path)


def write_xml(root: ET.Element, path: str) -> None:
    """Write an XML tree atomically (a JUnit report is never seen half-written)."""
    tmp = Path(path + ".tmp")
    ET.ElementTree(root).write(tmp, encoding="utf-8", xml_declaration=True)
    os.replace(tmp, path)


def markdown(report: dict[str, Any]) -> str:
    lines = [f"### edgekit parity: {'✅ passed' if report['passed'] else '❌ failed'}", ""]
    lines += ["| backend | site | kind | cosine | max abs | verdict |", "|---|---|---|---|---|---|"]
    for backend, res in report["backends"].items():
        for layer in res["layers"]:
            m = layer["metrics"]
            lines.append(f"| {backend} | `{layer['name']}` | {layer['kind']} | "
                         f"{_fmt(m.get('cosine'), '.6f')} | {_fmt(m.get('max_abs'), '.2e')} | "
                         f"{layer['status']} |")
        out = res["outputs"].get("output0", {})
        lines.append(f"| {backend} | `output0` | detections | | | "
                     f"{'pass' if out.get('passed') else 'fail'} |")
        if res.get("first_divergent"):
            lines.append(f"\nFirst divergent on {backend}: `{res['first_divergent']}`\n")
    return "\n".join(lines) + "\n"


def append_step_summary(report: dict[str, Any], text: str | None = None) -> None:
    """Append ``text`` (default: this parity report's markdown) to $GITHUB_STEP_SUMMARY."""
    path = os.environ.get("GITHUB_STEP_SUMMARY")
    if path:
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(markdown(report) if text is None else text)
