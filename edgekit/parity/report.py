"""Parity reports: a rich table on stderr, JSON, JUnit XML, and a GitHub step summary."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET


def _fmt(v: Any, spec: str) -> str:
    return format(v, spec) if isinstance(v, (int, float)) else "-"


_STATUS = {"pass": "[green]pass[/]", "fail": "[red]FAIL[/]",
           "degenerate": "[yellow]degenerate[/]", "not_compared": "[yellow]not compared[/]"}
_VERDICT = {"pass": "[green]PASS[/]", "fail": "[red]FAIL[/]",
            "not_compared": "[yellow]NOT COMPARED[/]"}


def output_status(out: dict[str, Any]) -> str:
    """pass, fail or not_compared (reports written before the status field: from passed)."""
    return out.get("status") or ("pass" if out.get("passed") else "fail")


def backend_status(res: dict[str, Any]) -> str:
    return res.get("status") or ("pass" if res.get("passed") else "fail")


def _matched_cell(out: dict[str, Any]) -> str:
    if out.get("check") == "agreement":
        return f"agreement drop {_fmt(out.get('agreement_drop'), '.1f')} pts"
    d = out.get("detections", {})
    cell = f"{d.get('matched', 0)} matched"
    if d.get("undecided"):
        cell += f", {d['undecided']} undecided"
    return cell


def render_table(report: dict[str, Any], console: Any = None) -> None:
    from rich.markup import escape

    from .._table import WIDE, new_table, wrap_dotted

    if console is None:
        from ..cli._common import err_console

        console = err_console()
    bundle = Path(report.get("bundle", "")).name
    for backend, res in report["backends"].items():
        title = (f"{bundle}: {backend} ({report['precision']}) vs PyTorch fp32: "
                 f"{_VERDICT[backend_status(res)]}")
        if res.get("first_divergent"):
            title += f"  first divergent: [bold]{res['first_divergent']}[/]"
        # compact (narrow console): the kind goes under the site, long names break at dots
        compact = console.width < WIDE
        median = res.get("verdict") == "median"
        # the median verdict's columns: what it decides on, then the worst-image cosines
        cols = (["site", "kind", "SQNR dB", "err/stream", "min cos", "in cos", "NaN/Inf",
                 "verdict"] if median else
                ["site", "kind", "cosine", "in cos", "max abs", "rel L2", "> tol", "NaN/Inf",
                 "verdict"])
        if compact:
            cols.remove("kind")
        t = new_table(title, cols, left=("site", "kind", "verdict"), tight=compact)
        site_w = max(12, console.width - 60)

        def site(name: str, kind: str) -> list[str]:
            if not compact:
                return [name, kind]
            return [f"{wrap_dotted(name, site_w)}\n[dim]{kind}[/]"]

        for layer in res["layers"]:
            m = layer["metrics"]
            nums = ([_fmt(m.get("sqnr_db_median"), ".1f"), _fmt(m.get("stream_rel_median"), ".3f")]
                    if median else [])
            nums += [_fmt(m.get("cosine"), ".6f"), _fmt(m.get("input_cosine"), ".6f")]
            if not median:
                nums += [_fmt(m.get("max_abs"), ".2e"), _fmt(m.get("rel_l2"), ".2e"),
                         _fmt(m.get("beyond_tol_frac"), ".2%")]
            t.add_row(*site(layer["name"], layer["kind"]), *nums,
                      f"{int(m.get('nan', 0))}/{int(m.get('inf', 0))}" if m else "-",
                      _STATUS[layer["status"]])
        out = res["outputs"].get("output0", {})
        d = out.get("detections", {})
        if compact or median:  # the detection counts do not fit number columns: a line below
            # two short lines, so the verdict column does not take the site names' room
            t.add_row(*site("output0", "detections"), *[""] * (len(cols) - 2 - (not compact)),
                      _STATUS[output_status(out)].replace(" ", "\n"))
        else:
            t.add_row(*site("output0", "detections"), _matched_cell(out), "",
                      f"{_fmt(d.get('max_box_shift_px'), '.2f')}px",
                      f"Δscore {_fmt(d.get('max_score_diff'), '.3f')}",
                      f"{d.get('missing', 0)} miss/{d.get('extra', 0)} extra", "",
                      _STATUS[output_status(out)])
        console.print(t)
        if median and out.get("check") == "agreement":
            console.print(f"  output0: agreement mAP50-95 "
                          f"{_fmt(out.get('agreement_map50_95'), '.1f')} against the fp32 "
                          f"detections' {_fmt(out.get('agreement_self'), '.1f')} on "
                          f"{out.get('images', 0)} images ({_matched_cell(out)}, at most "
                          f"{_fmt(out.get('max_agreement_drop'), 'g')})")
        elif compact:
            console.print(f"  output0: {_matched_cell(out)}, {d.get('missing', 0)} missing, "
                          f"{d.get('extra', 0)} extra, box shift "
                          f"{_fmt(d.get('max_box_shift_px'), '.2f')}px, Δscore "
                          f"{_fmt(d.get('max_score_diff'), '.3f')}")
        for layer in res["layers"]:
            if not layer["passed"]:
                console.print(f"  [red]{layer['name']}[/]: " + escape("; ".join(layer["reasons"][:3])))
        colour = "yellow" if output_status(out) == "not_compared" else "red"
        for r in out.get("reasons", []):
            console.print(f"  [{colour}]output0[/]: {escape(r)}")
        if res.get("error"):
            console.print(f"  [red]error[/]: {escape(str(res['error']))}")


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


def write_json(report: dict[str, Any], path: str, stdout: Any = None) -> None:
    """Write the report to ``path`` (atomically), or to ``stdout`` (default sys.stdout) for '-'."""
    text = json.dumps(report, indent=2) + "\n"
    if path == "-":
        import sys

        out = stdout or sys.stdout
        out.write(text)
        out.flush()
        return
    tmp = Path(path + ".tmp")
    tmp.write_text(text)
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
                         f"{_fmt(m.get('cosine'), '.6f')} | {_fmt(m.get('max_abs'), '.2e')} | "
                         f"{layer['status']} |")
        out = res["outputs"].get("output0", {})
        lines.append(f"| {backend} | `output0` | detections | {_matched_cell(out)} | | "
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
