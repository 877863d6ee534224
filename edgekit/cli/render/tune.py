"""The tune table: every configuration tried, its float scope and float precision, mAP drop
(with a dataset), the site the verdict rates worst, latency and speedups over f32 and bf16,
parity and whether it was kept; the chosen one marked."""

from __future__ import annotations

from typing import Any

from .table import WIDE, new_table


def _fmt(v: Any, spec: str, empty: str = "-") -> str:
    return empty if v is None else format(v, spec)


def _worst(c: dict[str, Any]) -> str:
    m = c.get("worst_metric")
    if not m:
        return "-"
    unit = " dB" if "dB" in m["name"] else ""
    return f"{c.get('worst_site')} {m['value']:.2f}{unit}" if unit else \
        f"{c.get('worst_site')} {m['value']:.4f}"


def _parity(c: dict[str, Any]) -> str:
    st = c.get("parity_status") or ("pass" if c.get("parity_passed") else "fail")
    return {"pass": "[green]pass[/]", "fail": "[red]fail[/]",
            "not_compared": "[yellow]not compared[/]"}.get(st, st)


def render_tune(report: dict[str, Any], console: Any) -> None:
    dec = report.get("decoder_sites") or []
    acc = report.get("accuracy")
    bf16 = report.get("bf16")
    cols = ["configuration", "float scope", "float at", "worst site", "p50 ms", "p99 ms",
            "× f32", "parity", "kept"]
    if acc:
        cols.insert(3, "mAP drop")
    if dec:
        cols.insert(cols.index("worst site") + 1, "decoder worst cos")
    if bf16:
        cols.insert(cols.index("× f32") + 1, "× bf16")
    title = f"tune: {report['bundle']} ({report['profile']}, {report['backend']})"
    if console.width < WIDE:
        _render_compact(report, console, title, dec)
        _render_notes(report, console, dec)
        return
    t = new_table(title, cols, left=("configuration", "float scope", "float at", "worst site",
                                     "parity", "kept"))
    for c in [report["fp32"], *report["candidates"]]:
        ref = c is report["fp32"]
        mark = "→ " if c["label"] == report["chosen"] else ""
        row = [mark + c["label"], "everything" if c.get("precision") == "fp32" else
               (", ".join(scope_labels(c)) or "none"), c.get("float_precision", "f32")]
        if acc:
            row.append("ref" if ref else _fmt(c.get("map_drop"), "+.2f"))
        row.append("-" if ref else _worst(c))
        if dec:
            row.append("-" if ref else decoder_cell(c, dec, decoder_worst(c, dec), ".5f"))
        star = "*" if c.get("remeasured") else ""
        row += [f"{c['p50_ms']:.2f}{star}", f"{c['p99_ms']:.2f}", _fmt(c.get("speedup"), ".2f")]
        if bf16:
            row.append(_fmt(c.get("speedup_bf16"), ".2f"))
        row += ["ref" if ref else _parity(c),
                "ref" if ref else ("[green]yes[/]" if c["passed"] else "[red]no[/]")]
        t.add_row(*row)
    console.print(t)
    _render_notes(report, console, dec)


def _render_compact(report: dict[str, Any], console: Any, title: str, dec: list[str]) -> None:
    """A narrow console: one short paragraph per configuration instead of a wide table."""
    from rich.markup import escape

    console.print(f"[bold]{escape(title)}[/]")
    f = report["fp32"]
    acc = f" mAP50-95 {f['map50_95']:.2f}," if f.get("map50_95") is not None else ""
    console.print(f"fp32 (everything float, f32):{acc} p50 {f['p50_ms']:.2f}"
                  f"{'*' if f.get('remeasured') else ''} ms, p99 {f['p99_ms']:.2f} ms")
    for c in report["candidates"]:
        mark = "→ " if c["label"] == report["chosen"] else ""
        ok = "[green]kept[/]" if c["passed"] else "[red]not kept[/]"
        par = _parity(c)
        drop = f", mAP drop {c['map_drop']:+.2f}" if c.get("map_drop") is not None else ""
        d = f", decoder worst cosine {decoder_cell(c, dec, decoder_worst(c, dec), '.5f')}" \
            if dec else ""
        bf = f", {c['speedup_bf16']:.2f}× bf16" if c.get("speedup_bf16") else ""
        console.print(f"{mark}[bold]{escape(c['label'])}[/]: {ok}{drop}, parity {par}, worst "
                      f"{escape(_worst(c))}{d}; p50 {c['p50_ms']:.2f}"
                      f"{'*' if c.get('remeasured') else ''} ms, p99 {c['p99_ms']:.2f} ms, "
                      f"{_fmt(c.get('speedup'), '.2f')}× f32{bf}")
        scope = ("everything" if c.get("precision") == "fp32"
                 else ", ".join(scope_labels(c)) or "none")
        console.print(f"    float: {escape(scope)}, at {c.get('float_precision', 'f32')}")


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
