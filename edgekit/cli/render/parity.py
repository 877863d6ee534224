"""The parity table: one per backend, every site against PyTorch, then why it failed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ...parity.report import backend_status, fmt, matched_cell, output_status
from .table import WIDE, new_table, wrap_dotted

_STATUS = {"pass": "[green]pass[/]", "fail": "[red]FAIL[/]",
           "degenerate": "[yellow]degenerate[/]", "not_compared": "[yellow]not compared[/]"}
_VERDICT = {"pass": "[green]PASS[/]", "fail": "[red]FAIL[/]",
            "not_compared": "[yellow]NOT COMPARED[/]"}


def render_parity(report: dict[str, Any], console: Any) -> None:
    from rich.markup import escape

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
            nums = ([fmt(m.get("sqnr_db_median"), ".1f"), fmt(m.get("stream_rel_median"), ".3f")]
                    if median else [])
            nums += [fmt(m.get("cosine"), ".6f"), fmt(m.get("input_cosine"), ".6f")]
            if not median:
                nums += [fmt(m.get("max_abs"), ".2e"), fmt(m.get("rel_l2"), ".2e"),
                         fmt(m.get("beyond_tol_frac"), ".2%")]
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
            t.add_row(*site("output0", "detections"), matched_cell(out), "",
                      f"{fmt(d.get('max_box_shift_px'), '.2f')}px",
                      f"Δscore {fmt(d.get('max_score_diff'), '.3f')}",
                      f"{d.get('missing', 0)} miss/{d.get('extra', 0)} extra", "",
                      _STATUS[output_status(out)])
        console.print(t)
        if median and out.get("check") == "agreement":
            console.print(f"  output0: agreement mAP50-95 "
                          f"{fmt(out.get('agreement_map50_95'), '.1f')} against the fp32 "
                          f"detections' {fmt(out.get('agreement_self'), '.1f')} on "
                          f"{out.get('images', 0)} images ({matched_cell(out)}, at most "
                          f"{fmt(out.get('max_agreement_drop'), 'g')})")
        elif compact:
            console.print(f"  output0: {matched_cell(out)}, {d.get('missing', 0)} missing, "
                          f"{d.get('extra', 0)} extra, box shift "
                          f"{fmt(d.get('max_box_shift_px'), '.2f')}px, Δscore "
                          f"{fmt(d.get('max_score_diff'), '.3f')}")
        for layer in res["layers"]:
            if not layer["passed"]:
                console.print(f"  [red]{layer['name']}[/]: " + escape("; ".join(layer["reasons"][:3])))
        colour = "yellow" if output_status(out) == "not_compared" else "red"
        for r in out.get("reasons", []):
            console.print(f"  [{colour}]output0[/]: {escape(r)}")
        if res.get("error"):
            console.print(f"  [red]error[/]: {escape(str(res['error']))}")
