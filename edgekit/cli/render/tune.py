"""The tune table: every configuration tried, its float scope, worst cosine, first divergent
site, latency and speedup; the chosen one marked."""

from __future__ import annotations

from typing import Any

from .table import WIDE, new_table


def render_tune(report: dict[str, Any], console: Any) -> None:

    dec = report.get("decoder_sites") or []
    cols = ["configuration", "float scope", "worst cos", "first divergent", "p50 ms", "p99 ms",
            "× fp32", "parity"]
    if dec:
        cols.insert(3, "decoder worst cos")
    title = f"tune: {report['bundle']} ({report['profile']}, {report['backend']})"
    if console.width < WIDE:
        _render_compact(report, console, title, dec)
        _render_notes(report, console, dec)
        return
    t = new_table(title, cols, left=("configuration", "float scope", "first divergent",
                                     "parity"))
    f = report["fp32"]
    t.add_row("fp32", "everything", "-", *(["-"] if dec else []), "-",
              f"{f['p50_ms']:.2f}{'*' if f.get('remeasured') else ''}",
              f"{f['p99_ms']:.2f}", "1.00", "ref")
    for c in report["candidates"]:
        scope = ", ".join(scope_labels(c)) or "none"
        mark = "→ " if c["label"] == report["chosen"] else ""
        extra = []
        if dec:
            dc = decoder_worst(c, dec)
            extra = [decoder_cell(c, dec, dc, ".5f")]
        star = "*" if c.get("remeasured") else ""
        t.add_row(mark + c["label"], scope,
                  "-" if c["worst_cosine"] is None else f"{c['worst_cosine']:.5f}", *extra,
                  str(c["first_divergent"]), f"{c['p50_ms']:.2f}{star}", f"{c['p99_ms']:.2f}",
                  f"{c['speedup']:.2f}", "[green]pass[/]" if c["passed"] else "[red]fail[/]")
    console.print(t)
    _render_notes(report, console, dec)


def _render_compact(report: dict[str, Any], console: Any, title: str, dec: list[str]) -> None:
    """A narrow console: one short paragraph per configuration instead of a wide table."""
    from rich.markup import escape

    console.print(f"[bold]{escape(title)}[/]")
    f = report["fp32"]
    console.print(f"fp32 (everything float): p50 {f['p50_ms']:.2f}"
                  f"{'*' if f.get('remeasured') else ''} ms, p99 {f['p99_ms']:.2f} ms")
    for c in report["candidates"]:
        mark = "→ " if c["label"] == report["chosen"] else ""
        ok = "[green]pass[/]" if c["passed"] else "[red]fail[/]"
        wc = "-" if c["worst_cosine"] is None else f"{c['worst_cosine']:.5f}"
        d = f", decoder worst cosine {decoder_cell(c, dec, decoder_worst(c, dec), '.5f')}" \
            if dec else ""
        console.print(f"{mark}[bold]{escape(c['label'])}[/]: {ok}, worst cosine {wc}{d}, first "
                      f"divergent {c['first_divergent']}; p50 {c['p50_ms']:.2f}"
                      f"{'*' if c.get('remeasured') else ''} ms, p99 {c['p99_ms']:.2f} ms, "
                      f"{c['speedup']:.2f}× fp32")
        console.print(f"    float: {escape(', '.join(scope_labels(c)) or 'none')}")


def _render_notes(report: dict[str, Any], console: Any, dec: list[str]) -> None:
    if report.get("side_by_side"):
        console.print("* timed again side by side, in interleaved rounds of one run; the other "
                      "rows' timings come from the search, minutes apart")
    if dec:
        console.print("≠ queries: the decoder selected a different top-k query set from the "
                      "reference's, so its sites have no element-wise comparison")
    console.print(f"chosen: [bold]{report['chosen']}[/] — {report['why']}")
    for k, v in report["outputs"].items():
        console.print(f"{k}: {v}")


def scope_labels(c: dict[str, Any]) -> list[str]:
    from ...scope import describe

    return describe(c["float_scope"], c["float_sites"], c.get("float_blocks", []))


def decoder_cell(c: dict[str, Any], decoder_sites: list[str], worst: float | None,
                 fmt: str) -> str:
    """A decoder-site cosine for a table; '≠ queries' when the decoder picked a different
    query set (its sites then have no element-wise comparison)."""
    if worst is not None:
        return format(worst, fmt)
    failed = [s for s in decoder_sites if c["site_passed"].get(s) is False]
    return "≠ queries" if failed else "-"


def decoder_worst(c: dict[str, Any], decoder_sites: list[str]) -> float | None:
    vals = [c["site_cosine"].get(s) for s in decoder_sites]
    vals = [v for v in vals if v is not None]
    return min(vals) if vals else None
